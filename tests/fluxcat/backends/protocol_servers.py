"""Real HTTP servers on 127.0.0.1 speaking fal's, Replicate's, Hugging Face's and Segmind's protocols.

Built from the official clients' models and the providers' documented requests and replies (fal-client 1.0.3's
queue handles and status parser, replicate 1.0.7's Prediction model and create route, huggingface_hub 2.4.0's
hf-inference text-to-image task, Segmind's flux-schnell / flux-dev field lists, as each provider publishes them),
never from fluxcat's code; `test_official_clients.py` runs each official client against its double.
Each double validates what it is sent as the provider documents it (fields it ignores are ignored, as Segmind does).

Faults are chosen by the prompt, so each row's fate is deterministic however requests interleave: a prompt
containing `fault:NAME` gets that fault (once, then the request succeeds, unless NAME ends in `-always`).
Transport faults: 429, 429-seconds, 429-date, 429-long-always, 500, 500-always, slow, reset, reset-always,
malformed, 400-echo (error text echoes the credential), 400-echo-b64 (the whole auth header base64- and
URL-encoded), echo-late-always (the credential ~285 characters into a
long error), no-credit-always (402 / 406), gone-always (410), trickle-always (a reply one byte per 0.2 s),
huge-reply-always (a 3 MB JSON reply). Provider faults: completed-error, not-retryable-always, never-completes
(fal); poll, prediction-failed, aborted, throttled, never-completes (Replicate); loading (HF); base64, image-url
(Segmind). Result faults: oversized, not-image, garbage, wrong-size, trickle-download, redirect-metadata.
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
import urllib.parse
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

SLOW_SECONDS = 2.0
FAULT = re.compile(r"fault:([a-z0-9-]+)")
METADATA_URL = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"


def png_bytes(width: int, height: int, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (seed % 256, 80, 160)).save(buffer, "PNG")
    return buffer.getvalue()


class _Reset(Exception):
    """Raised by a handler after it reset the connection."""


class ProtocolServer:
    """A ThreadingHTTPServer plus the state a fake provider needs: attempts per prompt, jobs, in-flight peak,
    creates per prompt (how many billed jobs each prompt cost)."""

    key_header = "Authorization"
    key_scheme = "Bearer"

    def __init__(self, key: str, job_seconds: float = 0.0, port: int = 0, refuse_with: int | None = None,
                 reply_seconds: float = 0.0):
        self.key = key
        self.refuse_with = refuse_with  # answer every call with this status (402/406: out of credit; 410: gone)
        self.job_seconds = job_seconds  # queue jobs finish no sooner than this after their create
        self.reply_seconds = reply_seconds  # one-call APIs answer a billed call this long after receiving it
        self.lock = threading.Lock()
        self.attempts: dict[str, int] = {}
        self.jobs: dict[str, dict] = {}
        self.creates: Counter = Counter()
        self.cancelled: list[str] = []
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

            def do_PUT(self):
                server._dispatch(self, "PUT")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
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
                return self.reply_json(handler, 401, self.error_body("Invalid or missing credentials"))
            if self.refuse_with:
                with self.lock:
                    self.creates["refused"] += 1
                return self.reply_json(handler, self.refuse_with, self.error_body(f"refused with {self.refuse_with}"))
            self.route(handler, method, handler.path.split("?")[0], body)
        except _Reset:
            pass
        finally:
            with self.lock:
                self.in_flight -= 1

    def error_body(self, message: str) -> dict:
        return {"detail": message}

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
            self.reply_json(handler, 429, self.error_body("Too many requests"))
        elif fault == "429-seconds":
            self.reply_json(handler, 429, self.error_body("Rate limited"), {"Retry-After": "0"})
        elif fault == "429-long-always":
            self.reply_json(handler, 429, self.error_body("Rate limited"), {"Retry-After": "3600"})
        elif fault == "429-date":
            self.reply_json(handler, 429, self.error_body("Rate limited"),
                            {"Retry-After": email.utils.formatdate(time.time() - 5, usegmt=True)})
        elif fault in ("500", "500-always"):
            self.reply_json(handler, 500, self.error_body("internal server error"))
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
            self.reply_json(handler, 400, self.error_body(f"prompt rejected for credential {auth}"))
        elif fault == "400-echo-b64":  # the whole auth header, base64-encoded, and URL-encoded
            auth = handler.headers.get(self.key_header, "")
            encoded = base64.b64encode(auth.encode()).decode()
            self.reply_json(handler, 400, self.error_body(f"bad header {encoded} (as sent: {urllib.parse.quote(auth)})"))
        elif fault == "echo-late-always":
            auth = handler.headers.get(self.key_header, "")
            self.reply_json(handler, 400, self.error_body("x" * 270 + f" credential {auth} was refused"))
        elif fault == "no-credit-always":
            self.reply_json(handler, 402, self.error_body("Payment required: no credit left"))
        elif fault == "gone-always":
            self.reply_json(handler, 410, self.error_body("This endpoint is gone"))
        elif fault == "trickle-always":
            self.trickle(handler)
        elif fault == "huge-reply-always":
            self.reply(handler, 200, b'{"padding": "' + b"x" * 3_000_000 + b'"}', "application/json")
        else:
            return False
        return True

    def trickle(self, handler, content_type: str = "application/json") -> None:
        """A reply that sends one byte every 0.2 s (a per-read timeout never fires). The client gives up at its
        deadline: from then on the request is not in flight for it (the server only notices on its next write)."""
        data = b'{"detail": "' + b"z" * 400 + b'"}'
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        with self.lock:
            self.in_flight -= 1
        try:
            for byte in data:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            raise _Reset() from None
        finally:
            with self.lock:
                self.in_flight += 1

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

    # -- jobs and result files (downloads): /files/<job>.png
    def new_job(self, prompt: str, width: int, height: int, seed, **extra) -> str:
        job = uuid.uuid4().hex
        with self.lock:
            self.jobs[job] = {"prompt": prompt, "width": width, "height": height, "seed": seed or 0, "polls": 0,
                              "created": time.monotonic(), **extra}
            self.creates[prompt] += 1
        return job

    def finished(self, job: dict) -> bool:
        """A queue job is done after two polls and job_seconds, unless its prompt says it never completes."""
        job["polls"] += 1
        return (job["polls"] > 2 and time.monotonic() - job["created"] >= self.job_seconds
                and "fault:never-completes" not in job["prompt"] and not job.get("cancelled"))

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
        if name == "trickle-download":
            return self.trickle(handler, "image/png")
        if name == "redirect-metadata":
            return self.reply(handler, 302, b"", "text/plain", {"Location": METADATA_URL})
        self.reply(handler, 200, self.image_for(job), "image/png")

    def route(self, handler, method: str, path: str, body: bytes) -> None:
        raise NotImplementedError


class FalServer(ProtocolServer):
    """fal's queue as fal-client 1.0.3 uses it: POST /{app} -> request_id, response_url, status_url, cancel_url;
    GET .../requests/{id}/status -> IN_QUEUE (queue_position) | IN_PROGRESS (logs) | COMPLETED (logs, metrics,
    maybe error/error_type); GET .../requests/{id} -> the result; PUT .../requests/{id}/cancel. Validation errors
    are 422 with a `detail` list; request errors carry X-Fal-Retryable and X-Fal-Error-Type headers."""

    key_scheme = "Key"
    IMAGE_SIZES = {"square_hd": (1024, 1024), "square": (512, 512), "portrait_4_3": (768, 1024),
                   "portrait_16_9": (576, 1024), "landscape_4_3": (1024, 768), "landscape_16_9": (1024, 576)}

    def route(self, handler, method, path, body):
        submit = re.fullmatch(r"/fal-ai/flux/(schnell|dev)", path)
        if method == "POST" and submit:
            return self.submit(handler, json.loads(body))
        match = re.fullmatch(r"/fal-ai/flux/requests/([0-9a-f]+)(/status|/cancel)?", path)
        if match is None or match.group(1) not in self.jobs:
            return self.reply_json(handler, 404, {"detail": f"no route {method} {path}"})
        job_id, tail = match.group(1), match.group(2)
        if method == "GET" and tail == "/status":
            return self.status(handler, self.jobs[job_id])
        if method == "PUT" and tail == "/cancel":
            self.jobs[job_id]["cancelled"] = True
            self.cancelled.append(job_id)
            return self.reply_json(handler, 202, {"status": "CANCELLATION_REQUESTED"})
        if method == "GET" and tail is None:
            return self.result(handler, job_id)
        self.reply_json(handler, 405, {"detail": "method not allowed"})

    def submit(self, handler, args: dict) -> None:
        fault = self.fault(args.get("prompt", ""))
        if fault == "not-retryable-always":
            return self.reply_json(handler, 503, {"detail": "Model is not available for this request"},
                                   {"X-Fal-Retryable": "false", "X-Fal-Error-Type": "runner_disconnected"})
        if self.transport_fault(handler, fault):
            return
        size = args.get("image_size", "landscape_4_3")
        width, height = self.IMAGE_SIZES[size] if isinstance(size, str) else (size["width"], size["height"])
        if not isinstance(args.get("prompt"), str) or args.get("output_format", "jpeg") not in ("jpeg", "png"):
            return self.reply_json(handler, 422, {"detail": [{"loc": ["body", "output_format"], "msg": "invalid",
                                                              "type": "value_error"}]})
        job = self.new_job(args["prompt"], width, height, args.get("seed"), args=args)
        root = f"{self.url}/fal-ai/flux/requests/{job}"
        self.reply_json(handler, 200, {"request_id": job, "response_url": root, "status_url": f"{root}/status",
                                       "cancel_url": f"{root}/cancel", "queue_position": 0})

    def status(self, handler, job: dict) -> None:
        if not self.finished(job):
            state = {"status": "IN_QUEUE", "queue_position": 0} if job["polls"] == 1 else {"status": "IN_PROGRESS", "logs": None}
            return self.reply_json(handler, 202, state)
        completed = {"status": "COMPLETED", "logs": None, "metrics": {"inference_time": 0.01}}
        if "fault:completed-error" in job["prompt"]:
            completed.update(error="Internal error in the model runner", error_type="runner_error")
        self.reply_json(handler, 200, completed)

    def result(self, handler, job_id: str) -> None:
        job = self.jobs[job_id]
        if "fault:completed-error" in job["prompt"]:
            return self.reply_json(handler, 500, {"detail": "Internal error in the model runner"})
        fault = FAULT.search(job["prompt"])
        kind = "image/png" if job["args"].get("output_format") == "png" else "image/jpeg"
        if fault and fault.group(1) == "data-uri":
            url = "data:image/png;base64," + base64.b64encode(self.image_for(job)).decode()
        else:
            url = self.file_url(job_id)
        self.reply_json(handler, 200, {
            "images": [{"url": url, "width": job["width"], "height": job["height"], "content_type": kind}],
            "seed": job["seed"], "has_nsfw_concepts": ["nsfw" in job["prompt"]], "timings": {"inference": 0.01},
            "prompt": job["prompt"]})


# The sizes of Replicate's FLUX aspect ratios at 1 megapixel, from the models' published code; "0.25" halves them.
REPLICATE_ASPECT_RATIOS = {
    "1:1": (1024, 1024), "16:9": (1344, 768), "21:9": (1536, 640), "3:2": (1216, 832), "2:3": (832, 1216),
    "4:5": (896, 1088), "5:4": (1088, 896), "3:4": (896, 1152), "4:3": (1152, 896), "9:16": (768, 1344),
    "9:21": (640, 1536),
}
REPLICATE_MAX_STEPS = {"schnell": 4, "dev": 50}


class ReplicateServer(ProtocolServer):
    """Replicate predictions as replicate 1.0.7 uses them: POST /v1/models/{owner}/{name}/predictions (optional
    `Prefer: wait=N`, N 1-60) and GET /v1/predictions/{id}, replying with the Prediction model's fields; POST
    /v1/predictions/{id}/cancel. 429s carry no Retry-After, only "resets in ~Ns" in the detail."""

    def error_body(self, message: str) -> dict:
        return {"title": message, "detail": message, "status": 0}

    def route(self, handler, method, path, body):
        create = re.fullmatch(r"/v1/models/black-forest-labs/flux-(schnell|dev)/predictions", path)
        if method == "POST" and create:
            return self.create(handler, create.group(1), json.loads(body))
        match = re.fullmatch(r"/v1/predictions/([0-9a-f]+)(/cancel)?", path)
        if match is None or match.group(1) not in self.jobs:
            return self.reply_json(handler, 404, {"detail": "Not found.", "status": 404})
        job_id = match.group(1)
        job = self.jobs[job_id]
        if method == "POST" and match.group(2):
            job["cancelled"] = True
            self.cancelled.append(job_id)
            return self.reply_json(handler, 200, self.prediction(job_id, "canceled"))
        if method == "GET" and not match.group(2):
            state = ("aborted" if "fault:aborted" in job["prompt"] else "succeeded") if self.finished(job) else "processing"
            return self.reply_json(handler, 200, self.prediction(job_id, state))
        self.reply_json(handler, 405, {"detail": "Method not allowed", "status": 405})

    def create(self, handler, model: str, body: dict) -> None:
        inputs = body.get("input") or {}
        fault = self.fault(inputs.get("prompt", ""))
        if fault == "throttled":
            return self.reply_json(handler, 429, {"title": "Request was throttled", "status": 429,
                                                  "detail": "Request was throttled. Your rate limit resets in ~1s."})
        if self.transport_fault(handler, fault):
            return
        problem = self.invalid(model, inputs, handler.headers.get("Prefer"))
        if problem:
            return self.reply_json(handler, 422, {"title": "Input validation failed", "detail": problem, "status": 422})
        width, height = REPLICATE_ASPECT_RATIOS[inputs.get("aspect_ratio", "1:1")]
        if inputs.get("megapixels", "1") == "0.25":
            width, height = width // 2, height // 2
        job = self.new_job(inputs["prompt"], width, height, inputs.get("seed"), input=inputs, model=model)
        waited = handler.headers.get("Prefer", "").startswith("wait") and "fault:poll" not in inputs["prompt"] \
            and "fault:never-completes" not in inputs["prompt"] and not self.job_seconds
        outcome = "aborted" if "fault:aborted" in inputs["prompt"] else "succeeded"
        status = outcome if waited else "starting"
        self.reply_json(handler, 201, self.prediction(job, status))

    @staticmethod
    def invalid(model: str, inputs: dict, prefer: str | None) -> str | None:
        if prefer is not None:
            wait = re.fullmatch(r"wait(?:=(\d+))?", prefer.strip())
            if wait is None or (wait.group(1) and not 1 <= int(wait.group(1)) <= 60):
                return f"Prefer: {prefer} is invalid: wait must be between 1 and 60 seconds"
        if not isinstance(inputs.get("prompt"), str):
            return "input.prompt is required"
        if inputs.get("aspect_ratio", "1:1") not in REPLICATE_ASPECT_RATIOS:
            return f"input.aspect_ratio must be one of {', '.join(REPLICATE_ASPECT_RATIOS)}"
        if inputs.get("megapixels", "1") not in ("1", "0.25"):
            return 'input.megapixels must be one of "1", "0.25"'
        if not 1 <= inputs.get("num_inference_steps", 1) <= REPLICATE_MAX_STEPS[model]:
            return f"input.num_inference_steps must be less than or equal to {REPLICATE_MAX_STEPS[model]}"
        if model == "dev" and not 0 <= inputs.get("guidance", 3) <= 10:
            return "input.guidance must be less than or equal to 10"
        return None

    def prediction(self, job_id: str, status: str) -> dict:
        job = self.jobs[job_id]
        if status == "succeeded" and "fault:prediction-failed" in job["prompt"]:
            status = "failed"
        done = status in ("succeeded", "failed", "canceled", "aborted")
        extension = job["input"].get("output_format", "webp")
        return {
            "id": job_id, "model": f"black-forest-labs/flux-{job['model']}", "version": "dp-4d0bcc010b3049749a251855f12800be",
            "input": job["input"], "logs": "", "status": status, "data_removed": False,
            "output": [self.file_url(job_id).replace(".png", f".{extension}")] if status == "succeeded" else None,
            "error": "NSFW content detected. Try a different prompt." if status == "failed" else None,
            "created_at": "2026-01-01T00:00:00.000Z", "started_at": "2026-01-01T00:00:00.100Z",
            "completed_at": "2026-01-01T00:00:01.000Z" if done else None,
            "urls": {"get": f"{self.url}/v1/predictions/{job_id}", "cancel": f"{self.url}/v1/predictions/{job_id}/cancel",
                     "stream": f"{self.url}/v1/predictions/{job_id}/stream", "web": f"{self.url}/p/{job_id}"},
            "metrics": {"predict_time": 0.01} if status == "succeeded" else {},
        }


class HuggingFaceServer(ProtocolServer):
    """HF Inference as huggingface_hub 2.4.0's hf-inference text-to-image sends it: POST {prefix}/models/{repo}
    with {"inputs", "parameters"} (every parameter optional, 1024x1024 by default) -> image bytes; errors as
    {"error": ...}; 402 once monthly credits are spent; a legacy 503 {"error", "estimated_time"} while loading."""

    def error_body(self, message: str) -> dict:
        return {"error": message}

    def route(self, handler, method, path, body):
        match = re.fullmatch(r"(?:/hf-inference)?/models/black-forest-labs/FLUX\.1-(schnell|dev)", path)
        if method != "POST" or match is None:
            return self.reply_json(handler, 404, {"error": f"no route {method} {path}"})
        payload = json.loads(body)
        prompt = payload.get("inputs", "")
        fault = self.fault(prompt)
        if fault == "loading":
            return self.reply_json(handler, 503, {"error": f"Model {path} is currently loading", "estimated_time": 0.01})
        if fault == "malformed":  # HF's malformed reply: an error body that is not JSON, with a JSON type
            return self.reply(handler, 500, b"{oops", "application/json")
        if self.transport_fault(handler, fault):
            return
        params = payload.get("parameters") or {}
        job = {"prompt": prompt, "width": params.get("width", 1024), "height": params.get("height", 1024),
               "seed": params.get("seed") or 0}
        with self.lock:
            self.creates[prompt] += 1
            self.jobs[uuid.uuid4().hex] = {**job, "parameters": params}
        time.sleep(self.reply_seconds)
        if "fault:not-image" in prompt:
            return self.reply_json(handler, 200, {"generated_text": "not an image"})
        self.reply(handler, 200, self.image_for(job), "image/png")


SEGMIND_DEV_ASPECT_RATIOS = REPLICATE_ASPECT_RATIOS  # flux-dev's aspect ratios make the same 1-megapixel sizes


class SegmindServer(ProtocolServer):
    """Segmind: POST /v1/flux-schnell {prompt, steps 1-8, width/height 512-2048 in multiples of 8, seed, samples}
    or /v1/flux-dev {prompt, steps, guidance, aspect_ratio, seed, output_format}; unknown fields are ignored
    silently; the reply is image bytes with x-remaining-credits; errors {"error": ...}; 406 = not enough credits."""

    key_header, key_scheme = "x-api-key", ""

    def error_body(self, message: str) -> dict:
        return {"error": message}

    def transport_fault(self, handler, fault):
        if fault == "no-credit-always":
            self.reply_json(handler, 406, {"error": "Not enough credits"})
            return True
        return super().transport_fault(handler, fault)

    def route(self, handler, method, path, body):
        match = re.fullmatch(r"/v1/flux-(schnell|dev)", path)
        if method != "POST" or match is None:
            return self.reply_json(handler, 404, {"error": f"no route {method} {path}"})
        payload = json.loads(body)
        fault = self.fault(payload.get("prompt", ""))
        if self.transport_fault(handler, fault):
            return
        size, problem = self.size(match.group(1), payload)
        if problem:
            return self.reply_json(handler, 400, {"error": problem})
        job_id = self.new_job(payload["prompt"], *size, payload.get("seed"), payload=payload)
        time.sleep(self.reply_seconds)
        data = self.image_for(self.jobs[job_id])
        headers = {"X-Remaining-Credits": "4.97"}
        if "fault:image-url" in payload["prompt"]:
            return self.reply_json(handler, 200, {"image_url": self.file_url(job_id)}, headers)
        if "fault:base64" in payload["prompt"]:
            return self.reply_json(handler, 200, {"image": base64.b64encode(data).decode()}, headers)
        self.reply(handler, 200, data, "image/png", headers)

    @staticmethod
    def size(model: str, payload: dict) -> tuple[tuple[int, int], str | None]:
        if model == "dev":
            ratio = payload.get("aspect_ratio", "1:1")
            if ratio not in SEGMIND_DEV_ASPECT_RATIOS:
                return (0, 0), f"aspect_ratio must be one of {', '.join(SEGMIND_DEV_ASPECT_RATIOS)}"
            return SEGMIND_DEV_ASPECT_RATIOS[ratio], None
        width, height, steps = payload.get("width", 1024), payload.get("height", 1024), payload.get("steps", 4)
        if not all(512 <= side <= 2048 and side % 8 == 0 for side in (width, height)):
            return (0, 0), "width and height must be multiples of 8 between 512 and 2048"
        if not 1 <= steps <= 8:
            return (0, 0), "steps must be between 1 and 8"
        return (width, height), None
