"""The CSMS side of a log upload (OCPP GetLog, docs/ocpp.md): a loopback HTTP server keeping
every file POSTed to it as multipart/form-data, for tests and the conformance lab.

    u = UploadServer()      # u.url: give it as the GetLog remoteLocation
    u.files                 # [(file name, bytes)] in arrival order
    u.stop()
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class UploadServer:
    def __init__(self):
        self.files = []
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                boundary = self.headers["Content-Type"].split("boundary=")[1].encode()
                head, _, data = body.split(b"--" + boundary)[1].partition(b"\r\n\r\n")
                name = head.split(b'filename="')[1].split(b'"')[0].decode()
                files.append((name, data[:-2]))  # the part ends with CRLF
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/upload" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
