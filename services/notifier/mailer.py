"""A thread that sends the notifier's mails, so that a slow mail server never stalls its event loop.

keepalived 2.2.7 (keepalived/core/smtp.c) runs the SMTP conversation on its own non-blocking
scheduler; here smtp_send.deliver() blocks, one mail at a time in the order submitted, in a
worker thread. The loop polls fileno() and collects the outcomes with take_results().
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import traceback

from services.notifier.smtp_dialog import Envelope
from services.notifier.smtp_send import DeliveryError, deliver


class Mailer:
    """Delivers submitted mails to one SMTP server in a daemon thread (started by the constructor)."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self._host = host
        self._port = port
        self._timeout = timeout
        self._queue: queue.Queue[tuple[int, Envelope] | None] = queue.Queue()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._results: list[tuple[int, str | None]] = []
        self._crash: str | None = None
        # Who closes the pipe: close(), or the worker if it is still busy when close() gives up on
        # it; a worker that wrote to a closed pipe could hit a descriptor reused for something else.
        self._worker_gone = False
        self._worker_closes = False
        self._closed = False
        self._pipe_open = True
        self._read_fd, self._write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._work, name=f"mailer {host}:{port}", daemon=True)
        self._thread.start()

    def fileno(self) -> int:
        """Readable when take_results() has something (results, or the worker's death)."""
        return self._read_fd

    def submit(self, mail_id: int, envelope: Envelope) -> None:
        """Queue a mail; its outcome comes back from take_results() under `mail_id`."""
        if self._closed:
            raise RuntimeError("the mailer is closed")
        self._queue.put((mail_id, envelope))

    def take_results(self) -> list[tuple[int, str | None]]:
        """The outcomes since the last call, in order: (mail id, None) when delivered, else
        (mail id, the DeliveryError text or "unexpected error: ...").

        Raises RuntimeError with the traceback once the worker has died of an unexpected error;
        the call before that returns the failed mail's result.
        """
        with self._lock:
            self._drain_pipe()
            results, self._results = self._results, []
            if self._crash is not None:
                if not results:
                    raise RuntimeError(f"the mail worker died:\n{self._crash}")
                # keep fileno() readable so that the loop comes back for the exception
                self._wake()
        return results

    def close(self, timeout: float) -> None:
        """Stop the worker: mails still queued are dropped, a delivery under way has `timeout` seconds
        to finish. A worker still busy after that is left to end with the process (it is a daemon)."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout)
        with self._lock:
            if self._worker_gone:
                self._close_pipe()
            else:
                self._worker_closes = True

    def _work(self) -> None:
        mail_id: int | None = None
        try:
            while not self._stopping.is_set():
                item = self._queue.get()
                if item is None or self._stopping.is_set():
                    break
                mail_id, envelope = item
                try:
                    deliver(self._host, self._port, envelope, self._timeout)
                except DeliveryError as e:
                    self._report(mail_id, str(e))
                else:
                    self._report(mail_id, None)
                mail_id = None
        except BaseException as e:
            # a thread's exception would only be printed; the service must learn of it and exit
            with self._lock:
                if mail_id is not None:
                    self._results.append((mail_id, f"unexpected error: {e!r}"))
                self._crash = traceback.format_exc()
                self._wake()
        finally:
            with self._lock:
                self._worker_gone = True
                if self._worker_closes:
                    self._close_pipe()

    def _report(self, mail_id: int, outcome: str | None) -> None:
        with self._lock:
            self._results.append((mail_id, outcome))
            self._wake()

    def _wake(self) -> None:
        # called with the lock held, so the pipe cannot close meanwhile
        if not self._pipe_open:
            return
        # a full pipe is readable already
        with contextlib.suppress(BlockingIOError):
            os.write(self._write_fd, b"\0")

    def _drain_pipe(self) -> None:
        if not self._pipe_open:
            return
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read_fd, 4096):
                pass

    def _close_pipe(self) -> None:
        self._pipe_open = False
        os.close(self._read_fd)
        os.close(self._write_fd)
