"""The worker's `Sender`: a busy stream's events cross the pipe together, and nothing waits longer than a window."""

from __future__ import annotations

import threading
import time

from studio.events import DoneEvent, StepEvent
from studio.jobs.worker import Sender


class Pipe:
    """Records what a worker would have written to its pipe, and when."""

    def __init__(self):
        self.sent: list[tuple[float, tuple]] = []
        self.arrived = threading.Event()

    def send(self, message):
        self.sent.append((time.monotonic(), message))
        self.arrived.set()

    def events(self) -> list:
        out = []
        for _, message in self.sent:
            out.extend(message[2] if message[0] == "batch" else [message])
        return out


def step(i: int) -> tuple:
    return ("event", "job", StepEvent(i, 100, 0.0, 1.0))


def test_without_a_window_every_message_goes_at_once():
    pipe = Pipe()
    sender = Sender(pipe)
    for i in range(3):
        sender.send(step(i))
    assert [m for _, m in pipe.sent] == [step(0), step(1), step(2)]


def test_a_busy_stream_goes_in_batches_in_order_and_the_end_goes_at_once():
    pipe = Pipe()
    sender = Sender(pipe, window=0.2)
    started = time.monotonic()
    sender.send(step(0))  # the first after a quiet spell: at once
    assert len(pipe.sent) == 1 and pipe.sent[0][1] == step(0)
    for i in range(1, 40):
        sender.send(step(i))
    assert len(pipe.sent) == 1  # the rest wait for the window
    done = ("event", "job", DoneEvent(step=40, result=None))
    sender.send(done, urgent=True)  # the end does not wait, and takes everything before it along
    assert time.monotonic() - started < 0.2
    assert len(pipe.sent) == 2 and pipe.sent[1][1][0] == "batch"
    assert pipe.events() == [step(i) for i in range(40)] + [done]


def test_nothing_waits_longer_than_the_window():
    pipe = Pipe()
    sender = Sender(pipe, window=0.1)
    sender.send(step(0))
    pipe.arrived.clear()
    sent = time.monotonic()
    sender.send(step(1))  # within the window of the first: held, then sent by the sender's thread
    assert pipe.arrived.wait(2)
    waited = pipe.sent[-1][0] - sent
    assert 0.05 < waited < 0.5, waited
    assert pipe.events() == [step(0), step(1)]


def test_the_flushing_thread_is_woken_once_a_window_not_once_an_event():
    pipe = Pipe()
    sender = Sender(pipe, window=0.2)
    wakes = []
    notify = sender._cond.notify
    sender._cond.notify = lambda *a: (wakes.append(1), notify(*a))
    sender.send(step(0))  # at once
    for i in range(1, 30):
        sender.send(step(i))
    assert len(wakes) == 1  # the second message told the thread a window had begun; the rest just wait in it
    assert pipe.arrived.wait(1)
    deadline = time.monotonic() + 1
    while len(pipe.events()) < 30 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pipe.events() == [step(i) for i in range(30)]
