"""Real HTTP servers on 127.0.0.1 speaking fal's, Replicate's, Hugging Face's and Segmind's protocols.

Faults are chosen by the prompt, so each row's fate is deterministic however requests interleave:
a prompt containing `fault:NAME` gets that fault (once, then the request succeeds, unless NAME ends in
`-always`). Faults: 429 (no Retry-After), 429-seconds, 429-date, 429-long-always (Retry-After: 3600), 500, 500-always, slow, reset, reset-always,
malformed, 400-echo (error text echoes the credential), loading (HF 503 + estimated_time), data-uri (fal),
poll (Replicate: no Prefer: wait answer), prediction-failed, base64 / image-url (Segmind), oversized,
not-image, garbage, wrong-size (download or body faults).
"""

from __future__ import annotations

import base64
import email.utils
import io
import json
import re
import socket
import struct
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

SLOW_SECONDS = 2.0
FAULT = re.compile(r"fault:([a-z0-9-]+)")


def png_bytes(width: int, height: int, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (seed % 256, 80, 160)).save(buffer, "PNG")
    return buffer.getvalue()


class _Reset(Exception):
    """Raised by a handler after it reset the connection."""


class ProtocolServer:
    """A ThreadingHTTPServer plus the state a fake provider needs: attempts per prompt, jobs, in-flight peak."""

    key_header = "Authorization"
    key_scheme = "Bearer"

    def __init__(self, key: str):
        self.key = key
        self.lock = threading.Lock()
        self.attempts: dict[str, int] = {}
        self.jobs: dict[str, dict] = {}
        self.in_flight = 0
        self.peak = 0
        self.requests: list[tuple[str, str]] = []
        self.download_auth_headers: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle(self):
                try:
                    super().handle()
                except (ConnectionResetError, BrokenPipeError):  # a client that gave up (timeout test)
                    pass

            def do_GET(self):
                server._dispatch(self, "GET")

            def do_POST(self):
                server._dispatch(self, "POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- plumbing
    def _dispatch(self, handler, method: str) -> None:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.requests.append((method, handler.path))
        try:
            length = int(handler.headers.get("content-length") or 0)
            body = handler.rfile.read(length) if length else b""
            if handler.path.startswith("/files/"):
                self.download_auth_headers += [v for k, v in handler.headers.items() if k.lower() in ("authorization", "x-api-key")]
                return self.serve_file(handler)
            if handler.headers.get(self.key_header, "") != f"{self.key_scheme} {self.key}".strip():
                return self.reply_json(handler, 401, {"detail": "Invalid or missing credentials"})
            self.route(handler, method, body)
        except _Reset:
            pass
        finally:
            with self.lock:
                self.in_flight -= 1

    def fault(self, prompt: str) -> str | None:
        """The fault for this attempt of this prompt: faults fire on the first attempt unless `-always`."""
        match = FAULT.search(prompt or "")
        with self.lock:
            attempt = self.attempts[prompt] = self.attempts.get(prompt, 0) + 1
        if not match:
            return None
        name = match.group(1)
        return name if (name.endswith("-always") or attempt == 1) else None

    def transport_fault(self, handler, fault: str | None) -> bool:
        """Apply a fault common to every protocol; True when the reply has been sent (or the socket reset)."""
        if fault is None:
            return False
        if fault == "429":
            self.reply_json(handler, 429, {"detail": "Too many requests"})
        elif fault == "429-seconds":
            self.reply_json(handler, 429, {"detail": "Rate limited"}, {"Retry-After": "0"})
        elif fault == "429-long-always":
            self.reply_json(handler, 429, {"detail": "Rate limited"}, {"Retry-After": "3600"})
        elif fault == "429-date":
            self.reply_json(handler, 429, {"detail": "Rate limited"}, {"Retry-After": email.utils.formatdate(time.time() - 5, usegmt=True)})
        elif fault in ("500", "500-always"):
            self.reply_json(handler, 500, {"detail": "internal server error"})
        elif fault == "slow":
            # The client times out and moves on: from then on this request is not in flight for it.
            with self.lock:
                self.in_flight -= 1
            time.sleep(SLOW_SECONDS)
            with self.lock:
                self.in_flight += 1
            return False
        elif fault in ("reset", "reset-always"):
            self.reset(handler)
        elif fault == "malformed":
            self.reply(handler, 200, b'{"images": [{"url": ', "application/json")
        elif fault == "400-echo":
            auth = handler.headers.get(self.key_header, "")
            self.reply_json(handler, 400, {"detail": f"prompt rejected for credential {auth}"})
        else:
            return False
        return True

    @staticmethod
    def reset(handler) -> None:
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()
        handler.close_connection = True
        handler.wfile = io.BytesIO()
        raise _Reset()

    @staticmethod
    def reply(handler, status: int, data: bytes, content_type: str, headers: dict | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def reply_json(self, handler, status: int, body, headers: dict | None = None) -> None:
        self.reply(handler, status, json.dumps(body).encode(), "application/json", headers)

    # -- result files (downloads): /files/<job>.png
    def new_job(self, prompt: str, width: int, height: int, seed: int) -> str:
        job = uuid.uuid4().hex
        with self.lock:
            self.jobs[job] = {"prompt": prompt, "width": width, "height": height, "seed": seed, "polls": 0}
        return job

    def file_url(self, job: str) -> str:
        return f"{self.url}/files/{job}.png"

    def image_for(self, job: dict) -> bytes:
        fault = FAULT.search(job["prompt"])
        if fault and fault.group(1) == "wrong-size":
            return png_bytes(job["width"] // 2, job["height"] // 2)
        return png_bytes(job["width"], job["height"], job["seed"])

    def serve_file(self, handler) -> None:
        job = self.jobs.get(handler.path[len("/files/"):].split(".")[0])
        if job is None:
            return self.reply_json(handler, 404, {"detail": "no such file"})
        fault = FAULT.search(job["prompt"])
        name = fault.group(1) if fault else None
        if name == "oversized":
            return self.reply(handler, 200, b"\0" * 300_000, "image/png")
        if name == "not-image":
            return self.reply(handler, 200, b"<html>sign in</html>", "text/html")
        if name == "garbage":
            return self.reply(handler, 200, b"\x89PNG not really", "image/png")
        self.reply(handler, 200, self.image_for(job), "image/png")

    def route(self, handler, method: str, body: bytes) -> None:
        raise NotImplementedError


class FalServer(ProtocolServer):
    """fal's queue: POST /{app} -> request_id; GET .../requests/{id}/status; GET .../requests/{id}."""

    key_scheme = "Key"

    def route(self, handler, method, body):
        path = handler.path
        submit = re.fullmatch(r"/fal-ai/flux/(schnell|dev)", path)
        if method == "POST" and submit:
            args = json.loads(body)
            if self.transport_fault(handler, self.fault(args["prompt"])):
                return
            size = args["image_size"]
            job = self.new_job(args["prompt"], size["width"], size["height"], args["seed"])
            self.jobs[job]["args"] = args
            root = f"{self.url}/fal-ai/flux/requests/{job}"
            return self.reply_json(handler, 200, {"request_id": job, "status_url": f"{root}/status",
                                                  "response_url": root, "cancel_url": f"{root}/cancel"})
        status = re.fullmatch(r"/fal-ai/flux/requests/([0-9a-f]+)/status", path)
        if method == "GET" and status:
            job = self.jobs[status.group(1)]
            job["polls"] += 1
            state = "IN_QUEUE" if job["polls"] == 1 else ("IN_PROGRESS" if job["polls"] == 2 else "COMPLETED")
            return self.reply_json(handler, 202 if state != "COMPLETED" else 200, {"status": state, "queue_position": 0})
        result = re.fullmatch(r"/fal-ai/flux/requests/([0-9a-f]+)", path)
        if method == "GET" and result:
            job_id = result.group(1)
            job = self.jobs[job_id]
            fault = FAULT.search(job["prompt"])
            if fault and fault.group(1) == "data-uri":
                url = "data:image/png;base64," + base64.b64encode(self.image_for(job)).decode()
            else:
                url = self.file_url(job_id)
            return self.reply_json(handler, 200, {
                "images": [{"url": url, "width": job["width"], "height": job["height"], "content_type": "image/png"}],
                "seed": job["seed"], "has_nsfw_concepts": ["nsfw" in job["prompt"]], "timings": {"inference": 0.01},
                "prompt": job["prompt"]})
        self.reply_json(handler, 404, {"detail": f"no route {method} {path}"})


REPLICATE_SIZES = {("1:1", "1"): (1024, 1024), ("1:1", "0.25"): (512, 512)}


class ReplicateServer(ProtocolServer):
    """Replicate predictions: POST /v1/models/{owner}/{name}/predictions (Prefer: wait), GET /v1/predictions/{id}."""

    def route(self, handler, method, body):
        path = handler.path
        create = re.fullmatch(r"/v1/models/black-forest-labs/flux-(schnell|dev)/predictions", path)
        if method == "POST" and create:
            inputs = json.loads(body)["input"]
            fault = self.fault(inputs["prompt"])
            if self.transport_fault(handler, fault):
                return
            width, height = REPLICATE_SIZES[(inputs["aspect_ratio"], inputs["megapixels"])]
            job = self.new_job(inputs["prompt"], width, height, inputs["seed"])
            waited = handler.headers.get("Prefer", "").startswith("wait") and "fault:poll" not in inputs["prompt"]
            return self.reply_json(handler, 201, self.prediction(job, "succeeded" if waited else "starting"))
        get = re.fullmatch(r"/v1/predictions/([0-9a-f]+)", path)
        if method == "GET" and get:
            job = self.jobs[get.group(1)]
            job["polls"] += 1
            state = "processing" if job["polls"] == 1 else "succeeded"
            return self.reply_json(handler, 200, self.prediction(get.group(1), state))
        self.reply_json(handler, 404, {"detail": f"no route {method} {path}"})

    def prediction(self, job_id: str, status: str) -> dict:
        job = self.jobs[job_id]
        if status == "succeeded" and "fault:prediction-failed" in job["prompt"]:
            return {"id": job_id, "status": "failed", "output": None, "error": "NSFW content detected. Try a different prompt."}
        return {"id": job_id, "status": status, "error": None,
                "output": [self.file_url(job_id)] if status == "succeeded" else None,
                "urls": {"get": f"{self.url}/v1/predictions/{job_id}", "cancel": f"{self.url}/v1/predictions/{job_id}/cancel"},
                "metrics": {"predict_time": 0.01} if status == "succeeded" else {}}


class HuggingFaceServer(ProtocolServer):
    """HF Inference: POST /models/{repo} -> image bytes; 503 {"error", "estimated_time"} while loading."""

    def route(self, handler, method, body):
        path = handler.path
        if method == "POST" and re.fullmatch(r"/models/black-forest-labs/FLUX\.1-(schnell|dev)", path):
            payload = json.loads(body)
            fault = self.fault(payload["inputs"])
            if fault == "loading":
                return self.reply_json(handler, 503, {"error": f"Model {path[8:]} is currently loading", "estimated_time": 0.01})
            if fault == "malformed":  # HF's malformed reply: an error body that is not JSON, with a JSON type
                return self.reply(handler, 500, b"{oops", "application/json")
            if self.transport_fault(handler, fault):
                return
            params = payload["parameters"]
            job = {"prompt": payload["inputs"], "width": params["width"], "height": params["height"], "seed": params["seed"]}
            if "fault:not-image" in payload["inputs"]:
                return self.reply_json(handler, 200, {"generated_text": "not an image"})
            return self.reply(handler, 200, self.image_for(job), "image/png")
        self.reply_json(handler, 404, {"error": f"no route {method} {path}"})


class SegmindServer(ProtocolServer):
    """Segmind: POST /v1/flux-{schnell,dev} with x-api-key; image bytes, or {"image": base64} when base64=true."""

    key_header, key_scheme = "x-api-key", ""

    def route(self, handler, method, body):
        path = handler.path
        if method == "POST" and re.fullmatch(r"/v1/flux-(schnell|dev)", path):
            payload = json.loads(body)
            fault = self.fault(payload["prompt"])
            if self.transport_fault(handler, fault):
                return
            job_id = self.new_job(payload["prompt"], payload["img_width"], payload["img_height"], payload["seed"])
            data = self.image_for(self.jobs[job_id])
            headers = {"X-Remaining-Credits": "4.97"}
            if "fault:image-url" in payload["prompt"]:
                return self.reply_json(handler, 200, {"image_url": self.file_url(job_id)}, headers)
            if payload.get("base64") or "fault:base64" in payload["prompt"]:
                return self.reply_json(handler, 200, {"image": base64.b64encode(data).decode()}, headers)
            return self.reply(handler, 200, data, "image/png", headers)
        self.reply_json(handler, 404, {"message": f"no route {method} {path}"})
