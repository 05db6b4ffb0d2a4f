"""A TCP proxy the test controls: forward, stall after N bytes upstream, or cut everything.

Used to make an endpoint go away in the middle of a transfer at a chosen point, without
touching the shared server behind it."""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.stalled = threading.Event()  # set once the upstream byte budget is used up
        self._cut = threading.Event()
        self._lock = threading.Lock()
        self._budget: int | None = None
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept)

    def stall_after(self, upstream_bytes: int) -> None:
        """Forward at most this many more client-to-server bytes, then hold the rest."""
        with self._lock:
            self._budget = upstream_bytes

    def cut(self) -> None:
        """The endpoint goes away: close every connection and refuse new ones."""
        self._cut.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self.cut()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._cut.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target, timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            self._spawn(self._pump, client, upstream, True)
            self._spawn(self._pump, upstream, client, False)

    def _take(self, size: int) -> int:
        with self._lock:
            if self._budget is None:
                return size
            allowed = min(size, self._budget)
            self._budget -= allowed
            return allowed

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        try:
            while data := source.recv(65536):
                allowed = self._take(len(data)) if upstream else len(data)
                sink.sendall(data[:allowed])
                if allowed < len(data):
                    self.stalled.set()
                    self._cut.wait()  # hold the connection open, forward nothing
                    return
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
