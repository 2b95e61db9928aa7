"""cti_ir.model.images: decoding, RGB conversion and a clear error for every kind of bad file."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from cti_ir.model.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image, load_image_bytes


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height``; no pixel data (so nothing big is ever allocated)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_loads_rgb_fully_decoded(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"a{suffix}"
    Image.new("RGB", (10, 6), (10, 200, 30)).save(path)
    img = load_image(path)
    path.unlink()  # fully decoded: usable after the file is gone
    assert img.mode == "RGB" and img.size == (10, 6)
    r, g, b = img.getpixel((5, 3))
    assert g > 150 and r < 60 and b < 80


def test_accepts_str_path(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.new("RGB", (3, 3)).save(path)
    assert load_image(str(path)).size == (3, 3)


def test_transparent_rgba_goes_on_white(tmp_path: Path) -> None:
    path = tmp_path / "t.png"
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    img.putpixel((0, 0), (255, 0, 0, 255))
    img.save(path)
    out = load_image(path)
    assert out.mode == "RGB"
    assert out.getpixel((3, 3)) == (255, 255, 255)
    assert out.getpixel((0, 0)) == (255, 0, 0)


def test_palette_with_transparency_goes_on_white(tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    img = Image.new("P", (4, 4), 0)
    img.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    img.putpixel((1, 1), 1)
    img.save(path, transparency=0)
    out = load_image(path)
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((1, 1)) == (0, 0, 255)


@pytest.mark.parametrize("mode", ["L", "LA", "CMYK", "1", "I;16"])
def test_other_modes_become_rgb(tmp_path: Path, mode: str) -> None:
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I;16") else "x.png")
    Image.new(mode, (5, 5)).save(path)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (5, 5)


def test_exif_orientation_applied(tmp_path: Path) -> None:
    path = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.new("RGB", (20, 10), (0, 0, 0)).save(path, exif=exif)
    assert load_image(path).size == (10, 20)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.jpg"
    with pytest.raises(ImageLoadError, match="nope.jpg.*not found") as info:
        load_image(path)
    assert isinstance(info.value, ValueError)
    assert info.value.path == str(path) and info.value.reason == "file not found"


def test_directory_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="not a regular file"):
        load_image(tmp_path)


def test_garbage_bytes_png(tmp_path: Path) -> None:
    path = tmp_path / "garbage.png"
    path.write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(ImageLoadError, match=r"garbage\.png.*not an image"):
        load_image(path)


def test_non_image_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is a text file, not a JPEG\n")
    with pytest.raises(ImageLoadError, match=r"notes\.jpg.*not an image"):
        load_image(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageLoadError, match=r"empty\.png"):
        load_image(path)


def test_truncated_jpeg(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.effect_noise((64, 64), 50).convert("RGB").save(buf, "JPEG", quality=95)
    data = buf.getvalue()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match=r"cut\.jpg.*truncated or corrupt"):
        load_image(path)


def test_corrupt_png_data(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.effect_noise((32, 32), 50).convert("RGB").save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[60:200] = b"\xff" * 140  # valid header, mangled compressed data
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageLoadError, match=r"bad\.png"):
        load_image(path)


def test_too_many_pixels_via_max_pixels(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (20, 20)).save(path)
    with pytest.raises(ImageLoadError, match=r"big\.png.*too many pixels.*400") as info:
        load_image(path, max_pixels=100)
    assert "decompression bomb" in info.value.reason
    assert load_image(path, max_pixels=400).size == (20, 20)


def test_header_over_default_limit_rejected_without_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(50_000, 1_000))  # 50 Mpx: above our 40 Mpx default, below PIL's own limit
    with pytest.raises(ImageLoadError, match=r"bomb\.png.*too many pixels"):
        load_image(path)


def test_pil_decompression_bomb_error_is_converted(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header_only(100_000, 100_000))  # PIL itself refuses this in Image.open
    with pytest.raises(ImageLoadError, match=r"huge\.png.*too many pixels"):
        load_image(path, max_pixels=10**12)


def test_pil_global_limit_untouched(tmp_path: Path) -> None:
    before = Image.MAX_IMAGE_PIXELS
    path = tmp_path / "a.png"
    Image.new("RGB", (20, 20)).save(path)
    with pytest.raises(ImageLoadError):
        load_image(path, max_pixels=10)
    load_image(path)
    assert Image.MAX_IMAGE_PIXELS == before
    assert DEFAULT_MAX_PIXELS == 40_000_000


def test_load_image_bytes() -> None:
    buf = io.BytesIO()
    Image.new("RGBA", (7, 3), (0, 0, 0, 0)).save(buf, "PNG")
    img = load_image_bytes(buf.getvalue())
    assert img.mode == "RGB" and img.size == (7, 3) and img.getpixel((0, 0)) == (255, 255, 255)
    buf.seek(0)
    assert load_image_bytes(buf).size == (7, 3)


def test_load_image_bytes_errors_name_the_upload() -> None:
    with pytest.raises(ImageLoadError, match=r"shoe\.jpg.*not an image"):
        load_image_bytes(b"GIF89a? no", name="shoe.jpg")
    with pytest.raises(ImageLoadError, match=r"<upload>.*empty"):
        load_image_bytes(b"")
    with pytest.raises(ImageLoadError, match="too many pixels"):
        load_image_bytes(_png_header_only(50_000, 1_000), name="x.png")
