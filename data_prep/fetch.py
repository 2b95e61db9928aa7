"""Get the real benchmark images: ``python -m data_prep.fetch fashioniq|shoes ...``.

    python -m data_prep.fetch fashioniq --root /data/fashioniq [--lists DIR] [--workers 8]
    python -m data_prep.fetch shoes --archive attributedata.tar.gz --captions fashion-retrieval/dataset \
        --root /data/shoes

``fashioniq`` downloads every image the annotation files under ROOT need from the published asin2url lists
(resumable, verified, polite; see `data_prep.fetch_fashioniq`); ``shoes`` unpacks the Attribute Discovery archive
safely into the Shoes layout (see `data_prep.fetch_shoes`). Both end with ROOT/fetch_report.json and a summary.
Exit code: 0 every needed image is present; 1 some are dead or missing (the report lists them; evaluate with
--skip-missing, and `data_prep.check` shows the reduced protocol); 2 bad arguments or inputs; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from data_prep.fetch_http import RetryPolicy
from data_prep.fetch_images import RunnerSettings, VerifyOptions


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (also what --help prints)."""
    p = argparse.ArgumentParser(
        prog="python -m data_prep.fetch",
        description="Get the images of the real benchmarks: download Fashion-IQ from its asin2url lists, or unpack "
                    "the Shoes images from the Attribute Discovery archive. Both write ROOT/fetch_report.json.",
        epilog="Exit code: 0 every needed image is present; 1 some are dead or missing (listed in the report); "
               "2 bad arguments or inputs; 130 interrupted (rerun the same command to resume).",
    )
    sub = p.add_subparsers(dest="dataset", required=True, metavar="{fashioniq,shoes}")

    f = sub.add_parser(
        "fashioniq", help="download the Fashion-IQ images the annotation files under ROOT need",
        description="Download every image that ROOT/captions/cap.<cat>.<split>.json and "
                    "ROOT/image_splits/split.<cat>.<split>.json name (and nothing else) to ROOT/images/<ASIN>.jpg, "
                    "from the asin2url.<cat>.txt lists. Each file is verified by decoding it (HTML error pages, "
                    "empty and truncated files count as dead, with the reason); nothing is converted unless asked. "
                    "Rerun the same command to resume: files already on disk are not downloaded again.",
    )
    f.add_argument("--root", required=True,
                   help="Fashion-IQ folder holding captions/ and image_splits/ (github.com/XiaoxiaoGuo/fashion-iq); "
                        "images go to ROOT/images/")
    f.add_argument("--lists", default=None,
                   help="folder holding asin2url.<cat>.txt (github.com/hongwang600/fashion-iq-metadata, image_url/). "
                        "Default: ROOT/image_url if it holds them, else ROOT")
    f.add_argument("--categories", nargs="+", default=None, metavar="CAT",
                   help="only these categories (default: every category with caption files: dress shirt toptee)")
    f.add_argument("--splits", nargs="+", default=["train", "val", "test"], choices=["train", "val", "test"],
                   help="only the images of these splits (default: all three; 'val' alone is enough to evaluate)")
    f.add_argument("--workers", type=int, default=8, help="parallel downloads (default 8)")
    f.add_argument("--rate", type=float, default=10.0,
                   help="at most this many requests per second to each host, over all workers; 0 = no limit "
                        "(default 10)")
    f.add_argument("--timeout", type=_positive_float, default=20.0,
                   help="seconds to wait for a server's answer before the attempt counts as failed (default 20)")
    f.add_argument("--retries", type=_non_negative_int, default=3,
                   help="retries of a transient failure (timeout, dropped connection, HTTP 5xx/429) (default 3)")
    f.add_argument("--backoff", type=float, default=1.0,
                   help="seconds before the first retry, doubled for each further one (default 1)")
    f.add_argument("--retry-dead", action="store_true",
                   help="also retry links an earlier run found dead for good (404, HTML page, corrupt image); by "
                        "default those are reported again without a request")
    f.add_argument("--min-side", type=_non_negative_int, default=16,
                   help="images with a side shorter than this many pixels are placeholders, not photos, and count as "
                        "dead (default 16)")
    f.add_argument("--convert-other-formats", action="store_true",
                   help="store images served as GIF, WebP, ... re-encoded as lossless PNG (listed in the report) "
                        "instead of counting them as dead; JPEG and PNG are always stored byte for byte")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.add_argument("--json", action="store_true", help="print the report as one JSON object instead of the summary")

    s = sub.add_parser(
        "shoes", help="unpack the Shoes images from the Attribute Discovery archive into ROOT",
        description="Copy the Shoes caption files to ROOT/dataset/ and extract the images they name from the "
                    "Attribute Discovery archive (a local file) to ROOT/womens_<type>/<0|1>/, then decode each "
                    "one and report what is missing. An archive with a member that could write outside ROOT "
                    "(absolute path, '..', a link pointing out, a device file) is refused before anything is "
                    "written.",
    )
    s.add_argument("--archive", required=True,
                   help="the Attribute Discovery archive (attributedata.tar.gz from tamaraberg.com/attributesDataset; "
                        "any tar compression or zip)")
    s.add_argument("--captions", required=True,
                   help="folder with relative_captions_shoes.json, train_im_names.txt and eval_im_names.txt (the "
                        "dataset/ folder of github.com/XiaoxiaoGuo/fashion-retrieval)")
    s.add_argument("--root", required=True, help="target folder; becomes a Shoes root that every reader accepts")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.add_argument("--json", action="store_true", help="print the report as one JSON object instead of the summary")
    return p


def _run_fashioniq(args: argparse.Namespace) -> int:
    from data_prep.fetch_fashioniq import FetchOptions, fetch_fashioniq, render_summary

    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    settings = RunnerSettings(
        workers=args.workers, per_host_rate=max(0.0, args.rate), timeout=args.timeout,
        policy=RetryPolicy(retries=args.retries, backoff=max(0.0, args.backoff)),
        verify=VerifyOptions(min_side=args.min_side, convert_other_formats=args.convert_other_formats),
    )
    options = FetchOptions(categories=args.categories, splits=args.splits, settings=settings,
                           retry_dead=args.retry_dead, progress=not args.quiet)
    log = (lambda m: print(m, file=sys.stderr)) if args.json else print
    try:
        report = fetch_fashioniq(Path(args.root), Path(args.lists) if args.lists else None, options, log=log)
    except KeyboardInterrupt:
        print("interrupted: the report so far is in fetch_report.json; rerun the same command to resume",
              file=sys.stderr)
        return 130
    print(json.dumps(report) if args.json else render_summary(report))
    return 0 if report["totals"]["dead"] == 0 else 1


def _run_shoes(args: argparse.Namespace) -> int:
    from data_prep.fetch_shoes import prepare_shoes, render_summary

    log = (lambda m: print(m, file=sys.stderr)) if args.json else print
    report = prepare_shoes(Path(args.archive), Path(args.captions), Path(args.root), progress=not args.quiet, log=log)
    print(json.dumps(report) if args.json else render_summary(report))
    return 0 if not report["problems"] else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the fetcher; returns the exit code (see the module docstring)."""
    args = build_parser().parse_args(argv)
    from data_prep.fetch_fashioniq import FetchSetupError
    from data_prep.fetch_shoes import ArchiveRefused, ShoesSetupError

    try:
        return _run_fashioniq(args) if args.dataset == "fashioniq" else _run_shoes(args)
    except (FetchSetupError, ShoesSetupError, ArchiveRefused, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
