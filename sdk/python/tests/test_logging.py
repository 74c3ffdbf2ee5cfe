"""Standard logging: records created with a token carry it; all others are left alone."""

from __future__ import annotations

import io
import logging
import logging.handlers
import pickle
import queue
import threading
from collections.abc import Iterator

import pytest
from sdk_support import TOKEN, LogCapture, token_for

from replaylink_sdk import logging as sdk_logging
from replaylink_sdk import use_token


class SeedStderr:
    """The seed documentation's monkey patch (``class F``), writing to a buffer instead of stdout."""

    def __init__(self, out: io.StringIO, token: str | None) -> None:
        self.out = out
        self.token = token

    def write(self, x: str) -> None:
        if self.token is not None and x != "\n":
            self.out.write(f"[openReplaySessionToken={self.token}] {x}")
        else:
            self.out.write(x)

    def flush(self) -> None:
        pass


@pytest.fixture
def root_capture() -> Iterator[io.StringIO]:
    """A ``%(message)s`` handler on the root logger, removed afterwards."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_inside_a_token_scope_the_message_is_prefixed(logs: LogCapture) -> None:
    with use_token(TOKEN):
        logging.getLogger("app").info("hello %s", "world")
    assert logs.lines == [f"[openReplaySessionToken={TOKEN}] hello world"]
    record = logs.records[0]
    assert record.openReplaySessionToken == TOKEN
    assert record.msg == "hello %s"
    assert record.args == ("world",)


def test_outside_a_request_records_are_untouched(logs: LogCapture) -> None:
    logging.getLogger("app").info("hello %s", "world")
    assert logs.lines == ["hello world"]
    assert type(logs.records[0]) is logging.LogRecord
    assert "openReplaySessionToken" not in vars(logs.records[0])


@pytest.mark.parametrize("message", ["hello world", "100% done", "multi\nline"])
def test_line_equals_what_the_seed_snippet_prints(logs: LogCapture, message: str) -> None:
    seed_print, seed_logging = io.StringIO(), io.StringIO()
    print(message, file=SeedStderr(seed_print, TOKEN))
    seed_handler = logging.StreamHandler(SeedStderr(seed_logging, TOKEN))
    seed_handler.handle(logging.makeLogRecord({"msg": message}))
    with use_token(TOKEN):
        logging.getLogger("app").info(message)
    assert logs.stream.getvalue() == seed_print.getvalue() == seed_logging.getvalue()


def test_loggers_with_own_handlers_and_propagation_off_are_covered(
    logs: LogCapture, root_capture: io.StringIO
) -> None:
    app = logging.getLogger("app")
    assert not app.propagate and app.handlers
    with use_token(TOKEN):
        app.warning("own handler")
        logging.getLogger("library.module").warning("via root")
    assert logs.lines == [f"[openReplaySessionToken={TOKEN}] own handler"]
    assert root_capture.getvalue() == f"[openReplaySessionToken={TOKEN}] via root\n"


def test_logger_exception_carries_the_token(logs: LogCapture) -> None:
    with use_token(TOKEN):
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("app").exception("failed")
    assert logs.lines[0] == f"[openReplaySessionToken={TOKEN}] failed"
    assert logs.lines[-1] == "ValueError: boom"


def test_prefix_is_configurable_and_attribute_usable_in_formats(logs: LogCapture) -> None:
    sdk_logging.install(prefix="openReplaySessionToken={token} | ")
    logs.handler.setFormatter(logging.Formatter("%(openReplaySessionToken)s %(message)s"))
    with use_token(TOKEN):
        logging.getLogger("app").info("hi")
    assert logs.lines == [f"{TOKEN} openReplaySessionToken={TOKEN} | hi"]
    with pytest.raises(ValueError, match="token"):
        sdk_logging.install(prefix="[no placeholder] ")


def test_chains_a_custom_record_factory(logs: LogCapture) -> None:
    class CustomRecord(logging.LogRecord):
        pass

    def custom_factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = CustomRecord(*args, **kwargs)  # type: ignore[arg-type]
        record.service = "shop"
        return record

    sdk_logging.uninstall()
    original = logging.getLogRecordFactory()
    logging.setLogRecordFactory(custom_factory)
    try:
        sdk_logging.install()
        with use_token(TOKEN):
            logging.getLogger("app").info("hi")
        sdk_logging.uninstall()
        assert logging.getLogRecordFactory() is custom_factory
    finally:
        logging.setLogRecordFactory(original)
    record = logs.records[0]
    assert isinstance(record, CustomRecord)
    assert record.service == "shop"  # type: ignore[attr-defined]
    assert logs.lines == [f"[openReplaySessionToken={TOKEN}] hi"]


def test_queue_listener_in_another_thread_prefixes_once(logs: LogCapture) -> None:
    records: queue.Queue[logging.LogRecord] = queue.Queue()
    queue_handler = logging.handlers.QueueHandler(records)
    listener = logging.handlers.QueueListener(records, logs.handler)
    app = logging.getLogger("app")
    app.removeHandler(logs.handler)
    app.addHandler(queue_handler)
    listener.start()
    try:
        with use_token(TOKEN):
            app.info("queued")
    finally:
        listener.stop()
        app.removeHandler(queue_handler)
        app.addHandler(logs.handler)
    assert logs.lines == [f"[openReplaySessionToken={TOKEN}] queued"]


def test_tagged_records_survive_pickling(logs: LogCapture) -> None:
    with use_token(TOKEN):
        logging.getLogger("app").info("pickled")
    copy = pickle.loads(pickle.dumps(logs.records[0]))
    assert copy.getMessage() == f"[openReplaySessionToken={TOKEN}] pickled"


def test_custom_record_class_message_is_prefixed_once(logs: LogCapture) -> None:
    class ShoutingRecord(logging.LogRecord):
        def getMessage(self) -> str:
            return super().getMessage().upper()

    sdk_logging.uninstall()
    original = logging.getLogRecordFactory()
    logging.setLogRecordFactory(ShoutingRecord)
    try:
        sdk_logging.install()
        with use_token(TOKEN):
            logging.getLogger("app").info("hi %s", "there")
    finally:
        sdk_logging.uninstall()
        logging.setLogRecordFactory(original)
    assert logs.lines == [f"[openReplaySessionToken={TOKEN}] HI THERE"]


def test_records_of_interleaved_requests_keep_their_own_prefix(logs: LogCapture) -> None:
    """The prefix rendered for one token is never reused for another (threads included)."""
    app = logging.getLogger("app")

    def request(index: int) -> None:
        for line in range(50):
            with use_token(token_for(index)):
                app.info("request %d line %d", index, line)

    threads = [threading.Thread(target=request, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(logs.lines) == 8 * 50
    for line in logs.lines:
        index = int(line.split("request ")[1].split()[0])
        assert line.startswith(f"[openReplaySessionToken={token_for(index)}] request {index} ")
