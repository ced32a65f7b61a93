#!/usr/bin/env python3
"""Real servers for tests/notify.rs: they record what arrived, as JSON, for the test to check.

  notify_servers.py http  OUTDIR [--status N] [--hang] [--tls CERT KEY]
  notify_servers.py smtp  OUTDIR CERT KEY USER PASSWORD

Each prints its port on the first line of stdout once it accepts connections, then serves
until killed. http writes OUTDIR/request-N.json (method, path, headers, body) per request
and answers --status (200 by default); --hang accepts the connection and never answers.
smtp is aiosmtpd with STARTTLS required and AUTH (PLAIN, LOGIN) required after it; each
message is written to OUTDIR/message-N.json (envelope, whether the session was encrypted
and authenticated, headers, and every MIME part decoded).
"""

import email
import email.policy
import itertools
import json
import os
import socket
import ssl
import sys
import threading
import logging
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counter = itertools.count(1)


def write(outdir, stem, record):
    path = os.path.join(outdir, f"{stem}-{next(counter)}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(record, f)
    os.rename(path + ".tmp", path)


def http(outdir, status, hang, tls):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            if hang:
                time.sleep(3600)
                return
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode("utf-8", "replace")
            write(outdir, "request", {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            })
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def smtp(outdir, cert, key, user, password):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login.decode() == user
              and auth_data.password.decode() == password)
        return AuthResult(success=ok)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            message = email.message_from_bytes(envelope.original_content,
                                               policy=email.policy.default)
            parts = []
            for part in message.walk():
                if part.is_multipart():
                    parts.append({"content_type": part.get_content_type()})
                    continue
                parts.append({
                    "content_type": part.get_content_type(),
                    "disposition": part.get_content_disposition(),
                    "filename": part.get_filename(),
                    "content": part.get_content(),
                })
            write(outdir, "message", {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "tls": session.ssl is not None,
                "authenticated": session.authenticated,
                "headers": {k.lower(): str(v) for k, v in message.items()},
                "parts": parts,
            })
            return "250 OK"

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port,
                            tls_context=ctx, require_starttls=True,
                            authenticator=authenticator, auth_require_tls=True)
    controller.start()
    print(port, flush=True)
    threading.Event().wait()


def main():
    # aiosmtpd logs a warning about its own use of a deprecated attribute on every AUTH.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    kind, outdir, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    if kind == "http":
        status = int(rest[rest.index("--status") + 1]) if "--status" in rest else 200
        tls = None
        if "--tls" in rest:
            i = rest.index("--tls")
            tls = (rest[i + 1], rest[i + 2])
        http(outdir, status, "--hang" in rest, tls)
    elif kind == "smtp":
        smtp(outdir, *rest)
    else:
        sys.exit(f"unknown server {kind}")


if __name__ == "__main__":
    main()
