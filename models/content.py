"""Content as a distribution: what a group of accounts asks, against what everyone asks.

A distillation pipeline sends requests drawn from one harvest set (instruction
datasets, code problems, a generator's output); however it paraphrases, its
accounts' prompts come from one distribution, and that distribution is not the
one the organic population's prompts come from. Judged per shared key, this is
evidence an operator cannot cheaply remove: every account must still ask for
what the operator wants to harvest.

The test is a kernel two-sample test in a fixed-size sketch. Prompts are embedded
with WordLlama's static 256-d embeddings (the weights ship in its wheel; nothing is
downloaded), randomly projected to `PROJECTED` dimensions, normalised, and mapped
through `FREQUENCIES` random Fourier features of an RBF kernel, so the kernel MMD
between two samples is the distance between their mean feature vectors (Rahimi and
Recht 2007; Gretton et al. 2012). A key keeps one mean vector, the population a running
mean and a sample of established accounts (`ContentReference`); a key is judged by an
effect size (its squared distance from the population over the spread of single
accounts around it) and by its support (how many established accounts look like it).

Privacy: a prompt's features exist only inside `ContentSampler`, in worker memory,
until `CHUNK` of one account's sampled prompts are averaged; only such means reach
an event (and from there the account record and its ticks). No prompt's embedding
is stored or sent.
"""

from __future__ import annotations

import base64
import logging
import math
import zlib
from collections import OrderedDict
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from distillguard.models.compiled import NATIVE, twin

if TYPE_CHECKING:
    from distillguard.models._native import Pooler

logger = logging.getLogger(__name__)

#: random frequencies of the RBF kernel's Fourier features (each gives a cos and a sin)
FREQUENCIES = 32
#: dimensions the 256-d WordLlama embeddings are randomly projected to
PROJECTED = 64
#: kernel bandwidth on unit-length embeddings (about the median distance between prompts)
BANDWIDTH = 1.0
#: seed of the frequencies: every worker and replay draw the same ones
SEED = 20_606
#: one prompt in this many is embedded (chosen by its event id, the same everywhere)
SAMPLE_EVERY = 3
#: sampled prompts averaged before their mean may leave `ContentSampler`
CHUNK = 5
#: characters of a prompt that are embedded (the opening says what is asked)
MAX_CHARS = 500
#: words whose token ids are cached (the cache starts afresh beyond this)
CACHED_WORDS = 100_000
#: accounts whose unfinished chunk is held in memory (least recently sampled dropped)
PENDING_ACCOUNTS = 100_000
#: an account's content mean weighs its newest chunk at least 1/this (a window of chunks)
ACCOUNT_CHUNKS = 8
#: a key's content mean weighs its newest account vote at least 1/this
KEY_TICKS = 32
#: the population reference weighs its newest tick at least 1/this
REFERENCE_TICKS = 5_000
#: ticks with content the reference needs before any key is judged by it
REFERENCE_WARMUP = 500
#: established accounts whose latest vectors the reference samples (`support`)
SAMPLE_ACCOUNTS = 256
#: sampled accounts the reference needs before any key is judged by it
SAMPLE_WARMUP = 64
#: a content mean as records, events and ticks hold it: base64 of its 64 numbers as
#: little-endian float16 (172 characters; "" for none). Its numbers lie within
#: +-1/sqrt(FREQUENCIES), where float16 keeps about 1e-4: a record stays small in memory
#: and on the changelog, as a list of 64 floats would not (about 2 KiB in a table)
Packed = str
_HALF = np.dtype("<f2")


def pack(v: np.ndarray) -> Packed:
    """A content vector as records hold it."""
    return base64.b64encode(v.astype(_HALF).tobytes()).decode()


@lru_cache(maxsize=8192)  # a key's mean is read at every fold until it changes
def unpack(packed: Packed) -> np.ndarray:
    """The vector of a packed content mean (read-only; shared between callers)."""
    v = np.frombuffer(base64.b64decode(packed), dtype=_HALF).astype(np.float64)
    v.flags.writeable = False
    return v


class Embedder:
    """WordLlama token embeddings, pooled, mapped to random Fourier features."""

    def __init__(self) -> None:
        import wordllama
        from wordllama import WordLlama

        # the wheel ships weights/ and tokenizers/ beside its code; named as the cache
        # directory they resolve without a download
        model = WordLlama.load(dim=256, cache_dir=Path(wordllama.__file__).parent,
                               disable_download=True)
        rng = np.random.default_rng(SEED)
        table = np.asarray(model.embedding, dtype=np.float32)
        # a fixed random projection to PROJECTED dimensions, done once on the table: the
        # pooling then reads a quarter of the bytes (the full table is far larger than a
        # CPU cache, so reading its rows is most of an embedding's cost)
        proj = rng.standard_normal((table.shape[1], PROJECTED)).astype(np.float32)
        self._table = np.ascontiguousarray(table @ proj)
        self._tokenizer = model.tokenizer
        self._tokenizer.no_padding()
        self._words: dict[str, list[int]] = {}  # word -> its token ids (see `_ids`)
        self._freq = (rng.standard_normal((FREQUENCIES, PROJECTED))
                      / BANDWIDTH).astype(np.float32)
        self._scale = 1.0 / math.sqrt(FREQUENCIES)
        self._pooler: Pooler | None = None if NATIVE is None else NATIVE.Pooler(
            self._table.astype("<f4").tobytes(), PROJECTED, self._word_ids, CACHED_WORDS)

    def _word_ids(self, word: str) -> list[int]:
        """One word's token ids, from the tokenizer."""
        ids: list[int] = self._tokenizer.encode(word, add_special_tokens=False).ids
        return ids

    def _ids(self, text: str) -> list[int]:
        """The text's token ids, a word at a time through a cache.

        The tokenizer runs BPE over the whole text (its model has no pre-tokenizer), which
        costs far more than the rest of the embedding; its merges never cross a space, so
        tokenizing each space-separated word alone gives the same ids but for rare runs
        of spaces, and words repeat.
        """
        words = self._words
        if len(words) > CACHED_WORDS:
            words.clear()
        ids: list[int] = []
        for word in text.split(" "):
            if word:
                got = words.get(word)
                if got is None:
                    got = words[word] = self._word_ids(word)
                ids.extend(got)
        return ids

    def _pooled(self, text: str) -> np.ndarray | None:
        """The sum of the text's token rows (float32; the mean up to its scale); None for no
        tokens. The compiled twin (`POOL`) sums them in the same order, to the same bits."""
        if POOL is not None and self._pooler is not None:
            summed = self._pooler.pool(text)
            return None if summed is None else np.frombuffer(summed, dtype="<f4")
        ids = self._ids(text)
        return np.take(self._table, ids, axis=0).sum(axis=0) if ids else None

    def features(self, text: str) -> np.ndarray | None:
        """The text's unit-length feature vector (2 x FREQUENCIES); None for no tokens."""
        pooled = self._pooled(text[:MAX_CHARS])
        if pooled is None:
            return None
        norm = math.sqrt(float(pooled @ pooled))
        if norm == 0.0:
            return None
        proj = self._freq @ (pooled / norm)
        return np.concatenate((np.cos(proj), np.sin(proj))) * self._scale


#: the compiled extension `Embedder._pooled` uses (None: Python only)
POOL = twin(__name__, "POOL", NATIVE)


@cache
def embedder() -> Embedder | None:
    """The process's embedder, loaded once; None (content evidence off) if it cannot load."""
    try:
        return Embedder()
    except Exception as exc:  # a broken install must not stop the worker: say so once
        logger.error("content evidence is off: WordLlama did not load (%s)", exc)
        return None


def sampled(event_id: str) -> bool:
    """Whether this event's prompt is embedded: one in `SAMPLE_EVERY`, by its id."""
    return zlib.crc32(event_id.encode()) % SAMPLE_EVERY == 0


class ContentSampler:
    """Per-account sums of sampled prompts' features, held in memory until a chunk is full."""

    def __init__(self) -> None:
        self._pending: OrderedDict[str, tuple[np.ndarray, int]] = OrderedDict()

    def chunk(self, account: str, event_id: str, prompt: str) -> Packed | None:
        """Take one prompt; the mean of the account's last `CHUNK` sampled ones when full."""
        if not sampled(event_id):
            return None
        model = embedder()
        if model is None:
            return None
        feats = model.features(prompt)
        if feats is None:
            return None
        held = self._pending.pop(account, None)
        total, count = (feats, 1) if held is None else (held[0] + feats, held[1] + 1)
        if count < CHUNK:
            self._pending[account] = (total, count)
            if len(self._pending) > PENDING_ACCOUNTS:
                self._pending.popitem(last=False)
            return None
        return pack(total / count)


def running_mean(mean: Packed, x: Packed, weight: float) -> Packed:
    """`mean` moved `weight` of the way to `x` (x itself for an empty mean)."""
    if not mean:
        return x
    m = unpack(mean)
    return pack(m + weight * (unpack(x) - m))


def fold_chunk(mean: Packed, chunks: int, chunk: Packed) -> tuple[Packed, int]:
    """An account's content mean and chunk count after one more chunk."""
    chunks += 1
    return running_mean(mean, chunk, max(1.0 / ACCOUNT_CHUNKS, 1.0 / chunks)), chunks


class ContentReference:
    """The population's content: a running mean of established accounts' tick vectors,
    their spread, and a uniform sample of those accounts' vectors.

    Established means older than a month (`Tick.established`): a campaign's accounts are
    mostly young, so they enter the reference late, if at all, and only by their share.
    The sample answers what the mean cannot: a group of one kind of customer (the users of
    one app, students behind one NAT) is far from the mean of a mixed population, yet many
    established accounts look like it; a harvest set's group has no such neighbours
    (`support`).

    Kept in the memory of each process that folds ticks, like the density sketches:
    after a restart it warms up again (`REFERENCE_WARMUP`), and keys are not judged by
    content until then.
    """

    def __init__(self) -> None:
        self.mean = np.zeros(2 * FREQUENCIES)
        self.spread = 0.0  # running mean of a tick vector's squared distance from `mean`
        self.ticks = 0
        # slot i holds the vector of the account of least hash among those hashing to i
        # (a uniform sample of distinct accounts, whatever the order ticks come in)
        self._sample = np.zeros((SAMPLE_ACCOUNTS, 2 * FREQUENCIES))
        self._owner: list[tuple[int, str] | None] = [None] * SAMPLE_ACCOUNTS
        self._filled = 0

    @property
    def ready(self) -> bool:
        """Whether enough ticks and accounts have been seen to judge keys against it."""
        return (self.ticks >= REFERENCE_WARMUP and self.spread > 0.0
                and self._filled >= SAMPLE_WARMUP)

    def update(self, account: str, x: Packed) -> None:
        """One established account's tick vector into the reference."""
        v = unpack(x)
        self.ticks += 1
        a = max(1.0 / REFERENCE_TICKS, 1.0 / self.ticks)
        dist = float(np.dot(v - self.mean, v - self.mean)) if self.ticks > 1 else 0.0
        self.mean += a * (v - self.mean)
        if self.ticks > 1:
            self.spread += max(a, 1.0 / (self.ticks - 1)) * (dist - self.spread)
        h = zlib.crc32(account.encode())
        slot = h % SAMPLE_ACCOUNTS
        held = self._owner[slot]
        if held is None or (h, account) <= held:
            self._filled += held is None
            self._owner[slot] = (h, account)
            self._sample[slot] = v

    def judge(self, key_mean: Packed, accounts: int) -> float:
        """A key's effect size: its mean's squared distance from the population's, in units
        of one account's spread, less what `accounts` independent accounts give by chance
        (1/accounts)."""
        d = unpack(key_mean) - self.mean
        return float(np.dot(d, d)) / self.spread - 1.0 / max(accounts, 1)

    def support(self, key_mean: Packed) -> float:
        """The share of sampled established accounts closer to the key's mean than to the
        population's: how common, among customers, content like the key's group is."""
        u = unpack(key_mean) - self.mean
        rows = self._sample if self._filled == SAMPLE_ACCOUNTS else self._sample[
            [i for i, held in enumerate(self._owner) if held is not None]]
        near = (rows - self.mean) @ u >= 0.5 * float(np.dot(u, u))
        return float(near.mean()) if len(rows) else 1.0

    def alignment(self, x: Packed, key_mean: Packed) -> float:
        """How far along its key's departure from the population an account's content is:
        1 at the key's mean, 0 at the population's, projected onto the line between them."""
        u = unpack(key_mean) - self.mean
        norm = float(np.dot(u, u))
        if norm == 0.0:
            return 0.0
        return float(np.dot(unpack(x) - self.mean, u)) / norm
