# A tiny ASGI app for the uvicorn recipe: it answers each request with the
# handoff generation, process and worker that served it.
import os


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = ("gen=%s pid=%d worker=%s hello from uvicorn\n" % (
        os.environ.get("HANDOFF_GENERATION", "-"), os.getpid(),
        os.environ.get("HANDOFF_WORKER", "-"))).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
