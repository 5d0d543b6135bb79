#!/usr/bin/env python3
"""The sockets tutorial's search handler as a router plugin.

It answers as the tutorial's app-server does, byte for byte:
{"action": "search", "value": V} gets {"result": R} from the table below,
or "No match for 'V'."; any other action A gets
"Error: invalid action 'A'.". V and A are formatted with str(), as the
reference formats them (None, True, 1.5, ['a'] ...).

Run it from the router's config (paths in args are relative to the
router's working directory):

    plugins:
      search: { cmd: python3, args: [examples/python/search.py] }
    routes:
      - { content_type: text/json, plugin: search }

It needs the SDK (sdk/python in this repository), found here relative to
this file, or on PYTHONPATH.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sdk", "python"))

from routerplugin import reply_json, serve  # noqa: E402

request_search = {
    "morpheus": "Follow the white rabbit. \U0001f430",
    "ring": "In the caves beneath the Misty Mountains. \U0001f48d",
    "\U0001f436": "\U0001f43e Playing ball! \U0001f3d0",
}


def search(request):
    content = request.json()
    if not isinstance(content, dict):
        raise ValueError("content is not a JSON object")
    action = content.get("action")
    if action == "search":
        query = content.get("value")
        # The reference's dict.get raises on a list or dict value and
        # never answers; here that is a miss, as in the Go built-in.
        found = request_search.get(query) if isinstance(query, str) else None
        answer = found or f"No match for '{query}'."
        return reply_json({"result": answer})
    return reply_json({"result": f"Error: invalid action '{action}'."})


if __name__ == "__main__":
    serve(
        {"search": search},
        name="search",
        version="1.0.0",
        routes={"search": {"actions": ["search"], "content_types": ["text/json"]}},
    )
