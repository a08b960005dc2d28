"""Who is in a room served by several servers: nickname claims in Redis (issue 12).

A nickname is unique across every server of a room.  Each server (an
*owner*, named by a token of its own) claims a nick for one of its clients
with ``SET NX PX`` on ``tcpchat:{ROOM}:nick:KEY``, where KEY is the folded
nick (``str.casefold`` unless the server passes the skeleton it compares
nicks by) and the value is ``OWNER\\nNICK``.  The claim is a *lease*: the
owner renews its claims every few seconds (:meth:`Presence.renew`, called by
:mod:`tcpchat.server.cluster`'s renewing thread); a server that
crashes stops renewing, and its nicks come free when the lease runs out.
Renewing and releasing compare before they act (compare-and-``PEXPIRE``,
compare-and-``DEL``, in Lua), so a server never extends or frees a claim
another server has made since.

Listing everyone
----------------
``/who`` needs every member on every server.  Scanning the claim keys
(``SCAN MATCH``) walks the whole keyspace, O(all keys) per ``/who``.  So each
claim also goes into one sorted set, ``tcpchat:{ROOM}:members``: member
``KEY\\nOWNER\\nNICK``, score the lease's expiry (in Redis's clock, ``TIME``,
so the servers' clocks need not agree).  The scripts update the claim and
the set together, so they agree; :meth:`Presence.members` is one
``ZRANGEBYSCORE`` of the live part, O(log N + members).

A crashed server's members
--------------------------
Someone must tell the room that a crashed server's members left, and only
once.  :meth:`Presence.renew` also *sweeps*: it removes the expired members
from the set, atomically, so exactly one script run gets each.  Given an
:class:`Announce`, that same script run appends their leaving notices to the
room's log stream (as :mod:`tcpchat.redislog` appends a batch), so the
announcement cannot be lost with the script's reply: a renewal sent just as
Redis stopped, timed out here and run by Redis when it came back, still
announces.  A release by the owner removes its member at once, so a sweeper
never sees it.

A lease runs out on Redis's clock, which goes on while Redis (or the
network) is stopped: after an outage longer than the lease, every claim has
run out, the live servers' too.  So a server sweeps only once it has itself
renewed without a gap (none longer than half a lease) for a whole lease:
by then every live server has been able to renew or claim its names again,
and what is left to sweep belongs to servers that are gone.

The operator is a member too: :meth:`Presence.claim_operator` fails at
start-up with a clear message if another server's operator has the nick.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from typing import Any, Callable, NamedTuple

from tcpchat.errors import ChatError
from tcpchat.redisconn import StoreUnavailable, call, check_room, load_redis, open_client

_NOW = """
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_CLAIM = (
    _NOW
    + """
local mine = ARGV[1] .. '\\n' .. ARGV[2]
local held = redis.call('GET', KEYS[1])
if held and held ~= mine then
  if held ~= ARGV[1] .. '\\n' .. ARGV[5] then return 0 end
  redis.call('ZREM', KEYS[2], ARGV[4] .. '\\n' .. held)
end
redis.call('SET', KEYS[1], mine, 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[4] .. '\\n' .. mine)
if ARGV[6] == '' then redis.call('HDEL', KEYS[3], ARGV[4])
else redis.call('HSET', KEYS[3], ARGV[4], ARGV[6]) end
return 1
"""
)
"""KEYS: claim, members, sessions; ARGV: owner, nick, lease ms, key, nick it may replace (a
respelling), the session's token digest (or '')."""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('HDEL', KEYS[3], ARGV[2])
end
return redis.call('ZREM', KEYS[2], ARGV[2] .. '\\n' .. ARGV[1])
"""
"""KEYS: claim, members, sessions; ARGV: OWNER\\nNICK, key."""

_TAKE_OVER = (
    _NOW
    + """
local held = redis.call('GET', KEYS[1])
if not held or redis.call('HGET', KEYS[3], ARGV[3]) ~= ARGV[4] then return false end
local nick = string.match(held, '\\n(.*)$')
local mine = ARGV[1] .. '\\n' .. nick
redis.call('ZREM', KEYS[2], ARGV[3] .. '\\n' .. held)
redis.call('SET', KEYS[1], mine, 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3] .. '\\n' .. mine)
return nick
"""
)
"""KEYS: claim, members, sessions; ARGV: owner, lease ms, key, the session's token digest."""

_RENEW = (
    _NOW
    + """
local lost = {}
for i = 7, #KEYS do
  local key, mine = ARGV[2 * i - 7], ARGV[1] .. '\\n' .. ARGV[2 * i - 6]
  if redis.call('GET', KEYS[i]) == mine then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), key .. '\\n' .. mine)
  else
    lost[#lost + 1] = ARGV[2 * i - 6]
  end
end
local lease, last, since = tonumber(ARGV[2]), now, now
local state = redis.call('GET', KEYS[6])
if state then
  last, since = string.match(state, '(%d+) (%d+)')
  last, since = tonumber(last), tonumber(since)
  if now - last > lease / 2 then since = now end
end
redis.call('SET', KEYS[6], string.format('%d %d', now, since), 'PX', lease * 4)
local expired = {}
if now - since >= lease then
  expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) end
end
local left, count = {}, 0
for _, member in ipairs(expired) do
  local key, owner, nick = string.match(member, '^([^\\n]*)\\n([^\\n]*)\\n(.*)$')
  if redis.call('EXISTS', ARGV[3] .. key) == 0 then redis.call('HDEL', KEYS[2], key) end
  if owner ~= ARGV[1] then
    count = count + 1
    left[count] = ARGV[4] .. nick .. ARGV[5] .. '\\n'
  end
end
if count > 0 and ARGV[4] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then
  local e = redis.call('INCRBY', KEYS[4], count)
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[6], string.format('%d-0', e),
    'end', e, 'n', count, 'lines', table.concat(left), 'w', '', 'k', 0)
end
return {lost, expired}
"""
)
"""KEYS: members, sessions, the log's ID, end and stream, this owner's renewals, then each
claim; ARGV: owner, lease
ms, the claims' key prefix, the leaving notice's text before and after the nick ('': do not
announce), the stream's MAXLEN, then key and nick of each claim."""

_MEMBERS = (
    _NOW
    + """
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
"""
)


class Member(NamedTuple):
    nick: str
    owner: str
    """The server whose client (or operator) it is."""


class Announce(NamedTuple):
    """How a sweep tells the room that a crashed server's member left (see above)."""

    before: str
    """The leaving line's text before the nick (``* ``)."""
    after: str
    """…and after it (`` left (connection lost)``)."""
    max_entries: int
    """The log stream's ``MAXLEN ~``, as its appends use."""


class Renewal(NamedTuple):
    lost: list[str]
    """This server's nicks that are no longer its own (the lease ran out meanwhile)."""
    expired: list[Member]
    """Other servers' members whose lease ran out: announce that they left (once)."""


class Presence:
    """This server's claims on the nicknames of one room (see the module docstring).

    Thread-safe: the server claims and releases under its lock, and renews
    from a thread of its own.
    """

    def __init__(
        self,
        client: Any,
        room: str,
        owner: str | None = None,
        *,
        lease_seconds: float = 15.0,
        fold: Callable[[str], str] = str.casefold,
        url: str = "Redis",
        announce: Announce | None = None,
    ) -> None:
        self.client = client
        self.room = check_room(room)
        self.owner = owner or secrets.token_hex(8)
        if "\n" in self.owner:
            raise ValueError("an owner name is one line")
        self.lease_ms = max(1, int(lease_seconds * 1000))
        self.fold = fold
        self.url = url
        self._redis = load_redis()
        self._members_key = f"tcpchat:{{{room}}}:members"
        self._sessions_key = f"tcpchat:{{{room}}}:sessions"
        self._log_keys = [f"tcpchat:{{{room}}}:{name}" for name in ("id", "end", "log")]
        """The room's log, as :mod:`tcpchat.redislog` names it (for :class:`Announce`)."""
        self.announce = announce
        self._renewals_key = f"tcpchat:{{{room}}}:renewed:{self.owner}"
        self._scripts = {
            name: client.register_script(text)
            for name, text in (
                ("claim", _CLAIM),
                ("release", _RELEASE),
                ("renew", _RENEW),
                ("members", _MEMBERS),
                ("take over", _TAKE_OVER),
            )
        }
        self._owned: dict[str, str] = {}  # key -> nick, the claims this server holds
        self._releasing: list[tuple[str, str]] = []  # (key, nick) to release when Redis is back
        self._lock = threading.Lock()

    @classmethod
    def connect(cls, url: str, room: str, owner: str | None = None, **options: Any) -> Presence:
        """A :class:`Presence` on its own client of the Redis at *url*."""
        timeout = options.pop("timeout", 2.0)
        return cls(open_client(url, timeout), room, owner, url=url, **options)

    def claim_key(self, nick: str) -> str:
        return f"tcpchat:{{{self.room}}}:nick:{self.fold(nick)}"

    def claim(self, nick: str, replacing: str = "", token: str = "") -> bool:
        """Claim *nick* for this server; False if another server (or client) has it.

        Claiming a nick this server already holds is True (a retry is safe).
        *replacing*: this server's nick that *nick* may take over, a
        respelling of it (``bob`` to ``Bob``), done atomically.  *token*: the
        session's, whose digest is kept with the claim so that the session
        can resume on another server (:meth:`take_over`).
        """
        key = self.fold(nick)
        args = [self.owner, nick, self.lease_ms, key, replacing, digest(token)]
        keys = [self.claim_key(nick), self._members_key, self._sessions_key]
        if not self._call(lambda: self._scripts["claim"](keys=keys, args=args)):
            return False
        with self._lock:
            self._owned[key] = nick
        return True

    def release(self, nick: str) -> bool:
        """Give *nick* up; False if it had been swept already (its leaving told elsewhere).

        If Redis is away, the release is kept and done by the next
        :meth:`renew` (before its lease ends, so no sweeper announces a
        leaving the server has announced already); :class:`StoreUnavailable`.
        """
        key = self.fold(nick)
        with self._lock:
            if self._owned.get(key) == nick:
                del self._owned[key]
        try:
            return self._release(key, nick)
        except StoreUnavailable:
            with self._lock:
                self._releasing.append((key, nick))
            raise

    def _release(self, key: str, nick: str) -> bool:
        args = [f"{self.owner}\n{nick}", key]
        keys = [self.claim_key(nick), self._members_key, self._sessions_key]
        return bool(self._call(lambda: self._scripts["release"](keys=keys, args=args)))

    def take_over(self, nick: str, token: str) -> str | None:
        """Move the claim on *nick* to this server, if its session's *token* matches.

        For a session resuming here after its server went away (killed, or
        cut off): the claim may still be in its lease.  The nick as held, or
        None if it is not held (the lease ran out) or *token* is not its session's.
        """
        key = self.fold(nick)
        keys = [self.claim_key(nick), self._members_key, self._sessions_key]
        args = [self.owner, self.lease_ms, key, digest(token)]
        held = self._call(lambda: self._scripts["take over"](keys=keys, args=args))
        if held is None:
            return None
        name = bytes(held).decode()
        with self._lock:
            self._owned[key] = name
        return name

    def renew(self) -> Renewal:
        """Extend every claim this server holds; sweep the expired members of others.

        Releases that failed while Redis was away are done first.
        """
        with self._lock:
            releasing, self._releasing = self._releasing, []
        for number, (key, nick) in enumerate(releasing):
            try:
                self._release(key, nick)
            except StoreUnavailable:
                with self._lock:
                    self._releasing[:0] = releasing[number:]
                raise
        with self._lock:
            owned = list(self._owned.items())
        prefix = f"tcpchat:{{{self.room}}}:nick:"
        keys = [self._members_key, self._sessions_key, *self._log_keys, self._renewals_key]
        keys += [prefix + key for key, _ in owned]
        told = self.announce or Announce("", "", 0)
        args: list[Any] = [self.owner, self.lease_ms, prefix, *told]
        for key, nick in owned:
            args += [key, nick]
        lost, expired = self._call(lambda: self._scripts["renew"](keys=keys, args=args))
        lost_nicks = [bytes(nick).decode() for nick in lost]
        with self._lock:
            for nick in lost_nicks:
                if self._owned.get(self.fold(nick)) == nick:
                    del self._owned[self.fold(nick)]
        swept = [parse_member(raw) for raw in expired]
        return Renewal(lost_nicks, [m for m in swept if m.owner != self.owner])

    def members(self) -> list[Member]:
        """Everyone in the room on every server, by nick (for ``/who``)."""
        found = self._call(lambda: self._scripts["members"](keys=[self._members_key], args=[]))
        return sorted((parse_member(raw) for raw in found), key=lambda m: self.fold(m.nick))

    def owner_of(self, nick: str) -> str | None:
        """The server holding *nick*, if any."""
        held = self._call(lambda: self.client.get(self.claim_key(nick)))
        return None if held is None else bytes(held).decode().split("\n", 1)[0]

    def claim_operator(self, nick: str) -> None:
        """Claim the operator's nick at start-up; a one-line :class:`ChatError` if taken."""
        if not self.claim(nick):
            owner = self.owner_of(nick) or "another server"
            raise ChatError(
                f"the operator nick {nick!r} is taken in room {self.room!r} by server "
                f"{owner}: give this server's operator another --nick"
            )

    def _call(self, action: Callable[[], Any]) -> Any:
        return call(self._redis, self.url, action)


def digest(token: str) -> str:
    """What Redis keeps of a session token (not the token: reading Redis gives no sessions)."""
    return hashlib.sha256(token.encode()).hexdigest() if token else ""


def parse_member(raw: bytes) -> Member:
    _, owner, nick = bytes(raw).decode().split("\n", 2)
    return Member(nick, owner)
