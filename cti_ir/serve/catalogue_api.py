"""The shop's catalogue in the JSON API: filter fields of ``POST /api/search``, product fields of the hits, and
``GET /api/status`` (what is being served).

Filters come as one ``filters`` object (JSON; in a form, its JSON text), e.g. ``{"in_stock": true, "price_max": 50,
"brand": ["Acme", "Zeta"], "size": "M"}``, or as the shortcut fields ``in_stock``, ``price_min``, ``price_max``,
``brand`` and ``size`` beside the others; both may be combined (a shortcut given in both is refused). What a
filter means is ``cti_ir.index.filters``; the engine checks it against the index's product columns.
"""

from __future__ import annotations

import json
from typing import Any

from cti_ir.serve.engine import QueryError

STATUS_PATH = "/api/status"
FILTER_SHORTCUTS = ("in_stock", "price_min", "price_max", "brand", "size")
FILTER_FIELDS = ("filters",) + FILTER_SHORTCUTS


def filters_of(fields: dict[str, Any]) -> dict | None:
    """The filter object of a request's fields (None: no filter); :class:`QueryError` ("filters") when the
    ``filters`` field is not an object or names a shortcut that is also given on its own."""
    given = fields.get("filters")
    if isinstance(given, str):
        if not given.strip():
            given = None
        else:
            try:
                given = json.loads(given)
            except ValueError:
                raise QueryError("filters must be a JSON object such as {\"in_stock\": true, \"price_max\": 50}",
                                 "filters") from None
    if given is not None and not isinstance(given, dict):
        raise QueryError("filters must be an object of product fields and values, such as {\"in_stock\": true}",
                         "filters")
    spec = dict(given or {})
    for name in FILTER_SHORTCUTS:
        if fields.get(name) not in (None, ""):
            if name in spec:
                raise QueryError(f"{name} was given both on its own and inside filters; give it once", name)
            spec[name] = fields[name]
    return spec or None


def product_of(hit) -> dict:
    """The product fields of a hit for the JSON answer ({} when the index has none for it)."""
    return dict(getattr(hit, "product", None) or {})


def engine_status(engine) -> dict:
    """What a server is serving: the index version and product count, its product fields, the model."""
    index = engine.index
    info = index.info
    watcher = getattr(engine, "index_watcher", None)
    return {
        "index": {"folder": str(index.folder), "version": index.version, "products": len(index),
                  "built_at": info.get("built_at"), "factory": info.get("factory"),
                  "categories": index.categories,
                  "product_fields": dict((info.get("products") or {}).get("columns", {}))},
        "model": {"fingerprint": getattr(engine.model, "fingerprint", None),
                  "checkpoint": str(getattr(engine, "checkpoint", "") or "") or None},
        "reloads": getattr(watcher, "reloads", 0),
        "last_reload_error": getattr(watcher, "last_error", None),
    }


def status_route(engine_of, batching_of=None):
    """The Starlette route of ``GET /api/status``; ``engine_of()`` gives the engine (it may be swapped),
    ``batching_of()`` (optional) the batcher's :class:`~cti_ir.serve.batching.BatchStats` or None."""
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def endpoint(request):
        if request.method not in ("GET", "HEAD"):
            return JSONResponse({"error": {"status": 405, "parameter": None,
                                           "message": f"Ask for the status with GET {STATUS_PATH}, not "
                                                      f"{request.method}."}},
                                status_code=405, headers={"Allow": "GET, HEAD"})
        engine = engine_of()
        watcher = getattr(engine, "index_watcher", None)
        if watcher is not None:
            watcher.poll()
        status = engine_status(engine)
        stats = batching_of() if batching_of is not None else None
        if stats is not None:
            status["batching"] = batching_status(stats)
        return JSONResponse(status)

    return Route(STATUS_PATH, endpoint, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                 name="cti_ir_api_status")


def batching_status(stats) -> dict:
    """What the batcher of this process has answered since it started: searches, batches, the mean and largest
    batch, searches turned away as busy, and the model and index work a search cost at each batch size (ms)."""
    return {"searches": stats.queries, "batches": stats.batches, "mean_batch": round(stats.mean_batch, 2),
            "largest_batch": stats.largest, "turned_away": stats.turned_away,
            "ms_per_search_by_batch_size": {str(size): round(ms, 3) for size, ms in stats.per_item_ms().items()}}


def serving_line(engine) -> str:
    """The page's line on what is served now (refreshed while the page is open): index version, products, model."""
    watcher = getattr(engine, "index_watcher", None)
    if watcher is not None:
        watcher.poll()
    status = engine_status(engine)
    index = status["index"]
    built = f", built {index['built_at']}" if index.get("built_at") else ""
    fields = f"; product fields: {', '.join(index['product_fields'])}" if index["product_fields"] else ""
    return (f"Serving index version {index['version']} ({index['products']:,} products{built}{fields}) with model "
            f"{status['model']['fingerprint']}.")
