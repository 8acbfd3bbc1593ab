"""A small local server speaking the OpenAI chat-completions protocol.

Not a mock object: a real HTTP server on 127.0.0.1 that the provider talks
to over TCP, with JSON responses and server-sent-event streaming. Tests
queue the replies it gives and read back the requests it received.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ScriptedResponse:
    content: str = "Hello from the local model."
    status: int = 200
    delay_s: float = 0.0
    chunk_size: int = 4
    usage: tuple[int, int] | None = (12, 7)
    error_message: str = "boom"
    retry_after: str | None = None
    tool_calls: list[tuple[str, str]] | None = None  # (function name, JSON arguments) asked of the client


class _Server(ThreadingHTTPServer):
    request_queue_size = 512  # a fan-out connects hundreds at once (socketserver's default backlog: 5)


@dataclass
class LocalOpenAIServer:
    responses: list[ScriptedResponse] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    # chooses the reply from the request instead of ``responses`` (concurrent callers, whose
    # requests arrive in any order)
    respond: Callable[[dict[str, Any]], ScriptedResponse] | None = None

    def start(self) -> LocalOpenAIServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                server.requests.append(body)
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                if server.respond is not None:
                    scripted = server.respond(body)
                else:
                    scripted = server.responses.pop(0) if server.responses else ScriptedResponse()
                if scripted.delay_s:
                    time.sleep(scripted.delay_s)
                if scripted.status != 200:
                    extra = {"Retry-After": scripted.retry_after} if scripted.retry_after else {}
                    self._json(scripted.status, {"error": {"message": scripted.error_message}}, extra)
                    return
                if body.get("stream"):
                    self._stream(body, scripted)
                else:
                    message = {"role": "assistant", "content": scripted.content}
                    if scripted.tool_calls:
                        message = {
                            "role": "assistant",
                            "content": None,
                            "tool_calls": [
                                {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
                                for i, (n, a) in enumerate(scripted.tool_calls)
                            ],
                        }
                    payload = {
                        "id": "chatcmpl-local",
                        "object": "chat.completion",
                        "model": body.get("model"),
                        "choices": [
                            {
                                "index": 0,
                                "message": message,
                                "finish_reason": "stop",
                            }
                        ],
                    }
                    if scripted.usage:
                        payload["usage"] = {"prompt_tokens": scripted.usage[0], "completion_tokens": scripted.usage[1]}
                    self._json(200, payload)

            def _json(self, status: int, payload: dict, extra: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict, scripted: ScriptedResponse) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()

                def event(payload: dict | str) -> None:
                    text = payload if isinstance(payload, str) else json.dumps(payload)
                    self.wfile.write(f"data: {text}\n\n".encode())
                    self.wfile.flush()

                self.wfile.write(b": keep-alive\n\n")
                text = scripted.content
                for i in range(0, len(text), scripted.chunk_size):
                    event(
                        {
                            "id": "chatcmpl-local",
                            "object": "chat.completion.chunk",
                            "choices": [{"index": 0, "delta": {"content": text[i : i + scripted.chunk_size]}}],
                        }
                    )
                include_usage = (body.get("stream_options") or {}).get("include_usage")
                if include_usage and scripted.usage:
                    event(
                        {
                            "id": "chatcmpl-local",
                            "object": "chat.completion.chunk",
                            "choices": [],
                            "usage": {"prompt_tokens": scripted.usage[0], "completion_tokens": scripted.usage[1]},
                        }
                    )
                event("[DONE]")
                self.close_connection = True

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
