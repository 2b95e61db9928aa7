"""The JSON API's load phase driven by wrk, a load generator written in C, instead of Python threads.

Sixteen Python client threads on the server's own two cores cost CPU and hold their own interpreter lock, so a
Python load generator measures itself as well as the server. wrk (Debian package ``wrk``) sends the same
requests (``POST /api/search``, the same photo and texts, keep-alive connections) at a few percent of one core.
Every answer is checked (HTTP 200 with hits), and the others count as failed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

BOUNDARY = "wrk-load-boundary"


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{byte:03d}" for byte in data) + '"'


def multipart_body(text: str, photo: bytes) -> bytes:
    """The body a client sends: the text, k=10 and the photo as form fields."""
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="text"\r\n\r\n{text}\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="k"\r\n\r\n10\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="photo.png"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n")
    return head.encode() + photo + f"\r\n--{BOUNDARY}--\r\n".encode()


def lua_script(texts: Sequence[str], photo: bytes) -> str:
    """wrk's script: the requests in turn, a count of bad answers per thread, and the percentiles at the end."""
    bodies = ",\n".join(_lua_string(multipart_body(t, photo)) for t in texts)
    return f"""
bodies = {{{bodies}}}
wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary={BOUNDARY}"
threads = {{}}
setup = function(thread) table.insert(threads, thread) end
counter = 0
bad = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, bodies[(counter % #bodies) + 1])
end
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"hits":[{{', 1, true) then bad = bad + 1 end
end
done = function(summary, latency, requests)
  local failed = 0
  for _, t in ipairs(threads) do failed = failed + t:get("bad") end
  io.write(string.format("RESULT requests %d failed %d errors %d duration_us %d p50 %d p95 %d max %d\\n",
    summary.requests, failed, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout, summary.duration, latency:percentile(50),
    latency:percentile(95), latency.max))
end
"""


def run_wrk(url: str, texts: Sequence[str], photo: Path, clients: int, duration: float) -> dict:
    """One wrk run against ``url`` (the search endpoint); the phase's figures as ``load_page`` reports them."""
    with tempfile.TemporaryDirectory(prefix="wrk_load_") as folder:
        script = Path(folder) / "api.lua"
        script.write_text(lua_script(texts, photo.read_bytes()))
        threads = max(1, min(2, clients))
        command = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{max(1, round(duration))}s", "-s", str(script), url]
        out = subprocess.run(command, capture_output=True, text=True, check=False)
    match = re.search(r"RESULT requests (\d+) failed (\d+) errors (\d+) duration_us (\d+) p50 (\d+) p95 (\d+) "
                      r"max (\d+)", out.stdout)
    if out.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed (exit status {out.returncode}): {(out.stderr or out.stdout)[-300:]}")
    requests, failed, errors, duration_us, p50, p95, top = (int(g) for g in match.groups())
    wall = duration_us / 1e6
    return {"requests": requests - failed, "failed": failed + errors, "duration_s": round(wall, 1),
            "per_s": round((requests - failed) / wall, 1), "p50_ms": round(p50 / 1000, 1),
            "p95_ms": round(p95 / 1000, 1), "max_ms": round(top / 1000, 1)}
