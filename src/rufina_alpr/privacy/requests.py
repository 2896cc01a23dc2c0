"""The register of data subjects' requests about a plate (GDPR art. 15 access, art. 17 erasure).

Each request is answered within one month of its receipt (art. 12(3): 30 days here), which may be
extended once by two further months, with the reasons told to the requester; a request may be
refused (art. 12(4): the requester is told why, and of the right to complain to the Garante).
The health payload's ``privacy.requests`` is `due_summary`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import sqlalchemy as sa

from rufina_alpr.errors import RufinaError
from rufina_alpr.plate_formats import normalize_plate
from rufina_alpr.store import Store, subject_requests
from rufina_alpr.store.schema import utc

Kind = Literal["access", "erasure"]
KINDS: Final[tuple[Kind, ...]] = ("access", "erasure")
STATUSES: Final = ("open", "fulfilled", "refused")
ANSWER_WITHIN: Final = timedelta(days=30)
"""Art. 12(3): "within one month of receipt of the request"."""
EXTENSION: Final = timedelta(days=60)
"""Art. 12(3): "extended by two further months where necessary", once."""
EARLIEST_YEAR: Final = 2000
DUE_SOON: Final = timedelta(days=7)
MAX_NOTE: Final = 500
"""Each note; the column holds the three a request may get (received, extended, refused)."""
MAX_REQUESTER: Final = 200
MAX_REFERENCE: Final = 64
_PLATE: Final = 16
PLATE_SENT: Final = re.compile(r"[ .\-]*[A-Za-z0-9][ .\-]*[A-Za-z0-9][A-Za-z0-9 .\-]*")
"""A plate as typed (docs/openapi.yaml has the same): no wildcard, two characters at least."""


class RequestError(RufinaError, ValueError):
    """A request the register refuses to record or change: the caller's mistake."""


class ReceivedLaterError(RequestError):
    """A date of receipt in the future (the API's 409: a well-formed date, not yet possible)."""


class RequestNotFound(RequestError):
    """No request with that id."""


class RequestStateError(RequestError):
    """The request is not in a state that allows this (not open, already extended, wrong kind)."""


@dataclass(frozen=True, slots=True)
class SubjectRequest:
    """One request as registered. ``note``: the notes of its creation, extension and refusal,
    one a line; ``result``: what the answer did (counts, what was kept and why)."""

    id: int
    kind: str
    plate: str
    requester: str
    reference: str | None
    received_at: datetime
    due_at: datetime
    status: str
    created_by: str
    created_at: datetime
    handled_by: str | None
    handled_at: datetime | None
    note: str | None
    result: dict[str, Any] | None

    @property
    def extended(self) -> bool:
        return self.due_at > self.received_at + ANSWER_WITHIN

    @property
    def open(self) -> bool:
        return self.status == "open"

    def days_left(self, now: datetime) -> int:
        """Whole days to the deadline (negative: days late); 0 on its last day."""
        return (self.due_at - utc(now)) // timedelta(days=1)

    def overdue(self, now: datetime) -> bool:
        return self.open and utc(now) > self.due_at


@dataclass(frozen=True, slots=True)
class DueSummary:
    """The open requests and their deadlines, for the health payload (no plate)."""

    open: int
    due_soon: int
    overdue: int
    next_due: datetime | None


def _from_row(row: Any) -> SubjectRequest:
    return SubjectRequest(
        id=int(row.id),
        kind=row.kind,
        plate=row.plate,
        requester=row.requester,
        reference=row.reference,
        received_at=utc(row.received_at),
        due_at=utc(row.due_at),
        status=row.status,
        created_by=row.created_by,
        created_at=utc(row.created_at),
        handled_by=row.handled_by,
        handled_at=utc(row.handled_at) if row.handled_at is not None else None,
        note=row.note,
        result=dict(row.result) if row.result is not None else None,
    )


def _text(value: str | None, what: str, limit: int, *, required: bool) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise RequestError(f"a request needs its {what}")
        return None
    if len(text) > limit or any(ord(ch) < 32 for ch in text):
        raise RequestError(f"the {what} is at most {limit} characters, without control characters")
    return text


def subject_plate(raw: str) -> str:
    """The plate as stored everywhere (`normalize_plate`), refused when it is no plate."""
    if len(raw) > _PLATE or not PLATE_SENT.fullmatch(raw):
        raise RequestError(
            f"the plate must be at most {_PLATE} letters and digits (two at least), spaces, "
            "dashes and dots"
        )
    return normalize_plate(raw)


def _noted(previous: str | None, label: str, note: str, now: datetime) -> str:
    line = f"[{utc(now).date().isoformat()} {label}] {note}"
    return f"{previous}\n{line}" if previous else line


def create(
    store: Store,
    kind: str,
    plate: str,
    requester: str,
    created_by: str,
    *,
    reference: str | None = None,
    received_at: datetime | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> SubjectRequest:
    """Register a request received on ``received_at`` (default now; never in the future): it is
    due 30 days later. Raises `RequestError` on a bad kind, plate or text."""
    if kind not in KINDS:
        raise RequestError(f"the kind must be one of: {', '.join(KINDS)}")
    moment = utc(now or datetime.now(UTC))
    if received_at is not None and received_at.year < EARLIEST_YEAR:
        raise RequestError(f"the date of receipt is before {EARLIEST_YEAR}")
    later = received_at is not None and received_at.year > moment.year  # before converting it
    received = moment if received_at is None or later else utc(received_at)
    if later or received > moment:
        raise ReceivedLaterError("a request cannot be received in the future")
    values = {
        "kind": kind,
        "plate": subject_plate(plate),
        "requester": _text(requester, "requester", MAX_REQUESTER, required=True),
        "reference": _text(reference, "reference", MAX_REFERENCE, required=False),
        "received_at": received,
        "due_at": received + ANSWER_WITHIN,
        "status": "open",
        "created_by": created_by[:120],
        "created_at": moment,
    }
    given = _text(note, "note", MAX_NOTE, required=False)
    values["note"] = _noted(None, "received", given, moment) if given else None
    with store.engine.begin() as connection:
        request_id = connection.execute(
            subject_requests.insert().values(**values).returning(subject_requests.c.id)
        ).scalar_one()
    found = get(store, int(request_id))
    assert found is not None
    return found


def get(store: Store, request_id: int) -> SubjectRequest | None:
    with store.engine.connect() as connection:
        row = connection.execute(
            sa.select(subject_requests).where(subject_requests.c.id == request_id)
        ).one_or_none()
    return _from_row(row) if row is not None else None


def listing(store: Store, *, status: str | None = None) -> list[SubjectRequest]:
    """The requests (of that status), the earliest deadline first."""
    query = sa.select(subject_requests).order_by(subject_requests.c.due_at, subject_requests.c.id)
    if status is not None:
        query = query.where(subject_requests.c.status == status)
    with store.engine.connect() as connection:
        return [_from_row(row) for row in connection.execute(query)]


def _change(store: Store, found: SubjectRequest, **values: Any) -> SubjectRequest:
    """Update an open request (only while it is still open: two answers cannot both land)."""
    with store.engine.begin() as connection:
        changed = connection.execute(
            subject_requests.update()
            .where(subject_requests.c.id == found.id, subject_requests.c.status == "open")
            .values(**values)
        ).rowcount
    if not changed:
        raise RequestStateError(f"request {found.id} is no longer open")
    updated = get(store, found.id)
    assert updated is not None
    return updated


def _open(store: Store, request_id: int) -> SubjectRequest:
    found = get(store, request_id)
    if found is None:
        raise RequestNotFound(f"no request {request_id}")
    if not found.open:
        raise RequestStateError(f"request {request_id} is {found.status}, not open")
    return found


def extend(
    store: Store, request_id: int, note: str, *, now: datetime | None = None
) -> SubjectRequest:
    """Push the deadline back 60 days, once, for the reason in ``note`` (art. 12(3): the
    requester must be told within the first month, with the reasons)."""
    found = _open(store, request_id)
    if found.extended:
        raise RequestStateError(f"request {request_id} was extended already (only once)")
    text = _text(note, "note", MAX_NOTE, required=True) or ""
    moment = utc(now or datetime.now(UTC))
    return _change(
        store,
        found,
        due_at=found.due_at + EXTENSION,
        note=_noted(found.note, "extended", text, moment),
    )


def refuse(
    store: Store, request_id: int, note: str, handled_by: str, *, now: datetime | None = None
) -> SubjectRequest:
    """Close the request unanswered for the reason in ``note`` (art. 12(4), art. 23, art. 17(3))."""
    found = _open(store, request_id)
    text = _text(note, "note", MAX_NOTE, required=True) or ""
    moment = utc(now or datetime.now(UTC))
    return _change(
        store,
        found,
        status="refused",
        handled_by=handled_by[:120],
        handled_at=moment,
        note=_noted(found.note, "refused", text, moment),
    )


def fulfil(
    store: Store,
    request_id: int,
    handled_by: str,
    result: dict[str, Any],
    *,
    now: datetime | None = None,
) -> SubjectRequest:
    """Mark the request answered, by whom, when, and what the answer did."""
    return _change(
        store,
        _open(store, request_id),
        status="fulfilled",
        handled_by=handled_by[:120],
        handled_at=utc(now or datetime.now(UTC)),
        result=result,
    )


def due_summary(store: Store, now: datetime, *, soon: timedelta = DUE_SOON) -> DueSummary:
    """How many requests are open, due within ``soon``, overdue, and the next deadline."""
    moment = utc(now)
    due = subject_requests.c.due_at
    with store.engine.connect() as connection:
        row = connection.execute(
            sa.select(
                sa.func.count(),
                sa.func.count().filter(due >= moment, due < moment + soon),
                sa.func.count().filter(due < moment),
                sa.func.min(due),
            ).where(subject_requests.c.status == "open")
        ).one()
    return DueSummary(
        open=int(row[0]),
        due_soon=int(row[1]),
        overdue=int(row[2]),
        next_due=utc(row[3]) if row[3] is not None else None,
    )
