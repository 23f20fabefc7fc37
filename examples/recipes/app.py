# A tiny WSGI app for the gunicorn and uWSGI recipes: it answers each
# request with the handoff generation, process and worker that served it.
import os


def app(environ, start_response):
    body = ("gen=%s pid=%d worker=%s hello from %s\n" % (
        os.environ.get("HANDOFF_GENERATION", "-"), os.getpid(),
        os.environ.get("HANDOFF_WORKER", "-"),
        environ.get("SERVER_SOFTWARE", "uwsgi").split("/")[0])).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


application = app
