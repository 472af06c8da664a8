"""The three GitHub REST endpoints the pull-request workflow's sticky comment calls (list,
create and update an issue's comments), served over HTTPS on loopback so the real `gh` CLI
talks to it as to a GitHub Enterprise host (`GH_HOST=127.0.0.1:PORT`, API under /api/v3).

As GitHub does: the token names the user (the workflow's token is github-actions[bot]),
a list comes in pages with a `Link: rel="next"` header (two comments a page, so `--paginate`
must follow it), and a user may edit only their own comments (403 otherwise).
`POST /_seed/ISSUE {"login", "body"}` adds a comment by anyone; `GET /_state` returns all.

    python3 github_api.py CERT KEY TOKEN   # prints "listening on PORT", then serves
"""

import json
import re
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CERT, KEY, TOKEN = sys.argv[1:4]
BOT = "github-actions[bot]"
PER_PAGE = 2
comments = []


def public(comment):
    return {"id": comment["id"], "body": comment["body"], "user": {"login": comment["login"]}}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def user(self):
        if self.headers.get("Authorization") != f"token {TOKEN}":
            self.send(401, {"message": "Bad credentials"})
            return None
        return BOT

    def add(self, issue, login, body):
        comment = {"id": 1000 + len(comments), "issue": issue, "login": login, "body": body}
        comments.append(comment)
        return comment

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path == "/_state":
            return self.send(200, [public(c) | {"issue": c["issue"]} for c in comments])
        if self.user() is None:
            return None
        found = re.fullmatch(r"/api/v3/repos/[^/]+/[^/]+/issues/(\d+)/comments", path)
        if not found:
            return self.send(404, {"message": "Not Found"})
        params = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
        page = int(params.get("page", "1"))
        mine = [c for c in comments if c["issue"] == int(found.group(1))]
        chunk = mine[(page - 1) * PER_PAGE : page * PER_PAGE]
        headers = []
        if page * PER_PAGE < len(mine):
            host = self.headers["Host"]
            headers.append(("Link", f'<https://{host}/api/v3{path[7:]}?page={page + 1}>; rel="next"'))
        return self.send(200, [public(c) for c in chunk], headers)

    def do_POST(self):
        seed = re.fullmatch(r"/_seed/(\d+)", self.path)
        if seed:
            body = self.body()
            return self.send(201, public(self.add(int(seed.group(1)), body["login"], body["body"])))
        user = self.user()
        if user is None:
            return None
        found = re.fullmatch(r"/api/v3/repos/[^/]+/[^/]+/issues/(\d+)/comments", self.path)
        if not found:
            return self.send(404, {"message": "Not Found"})
        return self.send(201, public(self.add(int(found.group(1)), user, self.body()["body"])))

    def do_PATCH(self):
        user = self.user()
        if user is None:
            return None
        found = re.fullmatch(r"/api/v3/repos/[^/]+/[^/]+/issues/comments/(\d+)", self.path)
        comment = next((c for c in comments if found and c["id"] == int(found.group(1))), None)
        if comment is None:
            return self.send(404, {"message": "Not Found"})
        if comment["login"] != user:
            return self.send(403, {"message": "Must have admin rights to Repository."})
        comment["body"] = self.body()["body"]
        return self.send(200, public(comment))


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(CERT, KEY)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(f"listening on {server.server_address[1]}", flush=True)
server.serve_forever()
