"""Interaction datasets for ``benchmarks/recommend.py``, in two generic formats.

* **SASRec text format**: one ``<user> <item>`` pair per line (whitespace separated, no
  header), chronological within each user (``.gz`` read directly). ``load_sasrec_txt``.
* **CSV with a column mapping**: ``load_csv(path, user="CustomerID", item="StockCode",
  time="InvoiceDate", event="behavior", text="Description", category="cat", ...)``; the time
  and event columns are optional (without a time column the file order is kept).

Every loader returns a ``Dataset``: per-user item-code sequences (oldest first, codes
1..n), event-type codes, and optional item text/category features. The three shop-like
sets in ``../shared/datasets`` have named loaders (``load(name)``): ``ml-1m``, ``taobao``,
``online-retail``; their READMEs describe the files.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DATASETS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "datasets")
DEFAULT_PATHS = {
    "ml-1m": os.path.join(DATASETS_DIR, "ml-1m", "ml-1m.txt.gz"),
    "taobao": os.path.join(DATASETS_DIR, "taobao-userbehavior-head", "UserBehavior_head.csv.gz"),
    "online-retail": os.path.join(DATASETS_DIR, "online-retail", "online_retail.csv.gz"),
}


@dataclass
class Dataset:
    name: str
    item_keys: list  # item code i (1-based) is item_keys[i - 1]
    items: list  # per user: int64 array of item codes, oldest first
    events: list  # per user: int64 array of event-type codes (1-based)
    event_types: list = field(default_factory=lambda: ["interaction"])
    text: dict = field(default_factory=dict)  # item key -> text
    category: dict = field(default_factory=dict)  # item key -> category
    notes: str = ""
    dropped_users: int = 0  # users with fewer than min_length tokens (leave-one-out needs 3)
    dropped_items: int = 0  # items only those users had

    @property
    def n_items(self) -> int:
        return len(self.item_keys)

    @property
    def n_interactions(self) -> int:
        return int(sum(len(s) for s in self.items))

    def describe(self) -> str:
        lengths = np.array([len(s) for s in self.items])
        return (
            f"{self.name}: {len(self.items):,} users, {self.n_items:,} items, {self.n_interactions:,} "
            f"interactions (median {int(np.median(lengths))} per user); dropped {self.dropped_users:,} users with "
            f"fewer than 3 interactions and {self.dropped_items:,} items only they had; {self.notes}"
        )


def _open(path):
    return (
        gzip.open(path, "rt", encoding="utf-8", errors="replace")
        if path.endswith(".gz")
        else open(path, encoding="utf-8", errors="replace")
    )


def load_sasrec_txt(path: str, name: str = "", min_length: int = 3) -> Dataset:
    """SASRec's ``user item`` format, chronological within a user."""
    users, items = [], []
    with _open(path) as handle:
        for line_no, line in enumerate(handle, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 2:
                raise ValueError(f"{path}:{line_no}: expected '<user> <item>', got {line.strip()!r}")
            users.append(parts[0])
            items.append(parts[1])
    frame = pd.DataFrame({"user": users, "item": items})
    return from_frame(frame, name or os.path.basename(path), min_length=min_length, collapse_repeats=False)


def load_csv(
    path: str,
    *,
    user: str,
    item: str,
    time: str | None = None,
    event: str | None = None,
    text: str | None = None,
    category: str | None = None,
    names=None,
    header="infer",
    event_order=None,
    name: str = "",
    min_length: int = 3,
    collapse_repeats: bool = True,
    query: str | None = None,
    time_format: str | None = None,
    read_kwargs=None,
) -> Dataset:
    """A CSV with a column mapping. ``query`` (pandas) filters rows first."""
    frame = pd.read_csv(
        path,
        names=names,
        header=header if names is None else None,
        dtype=str,
        keep_default_na=False,
        **(read_kwargs or {}),
    )
    if query:
        frame = frame.query(query, engine="python")
    mapping = {"user": user, "item": item, "time": time, "event": event, "text": text, "category": category}
    missing = [col for col in mapping.values() if col and col not in frame.columns]
    if missing:
        raise ValueError(f"{path}: no column(s) {missing}; columns are {list(frame.columns)}")
    out = pd.DataFrame({key: frame[col] for key, col in mapping.items() if col})
    out = out[(out["user"] != "") & (out["item"] != "")]
    if time:
        out["time"] = (
            pd.to_datetime(out["time"], format=time_format)
            if time_format or not out["time"].str.isdigit().all()
            else pd.to_numeric(out["time"])
        )
        out = out.sort_values(["user", "time"], kind="stable")
    return from_frame(
        out,
        name or os.path.basename(path),
        min_length=min_length,
        collapse_repeats=collapse_repeats,
        event_order=event_order,
    )


def from_frame(
    frame: pd.DataFrame, name: str, *, min_length: int = 3, collapse_repeats: bool = True, event_order=None
) -> Dataset:
    """Build a Dataset from columns user, item (and event, text, category) in sequence order.

    ``collapse_repeats`` merges consecutive events on the same item into one token (its
    strongest event type by ``event_order``, weakest first). Users with fewer than
    ``min_length`` tokens are dropped (leave-one-out needs train, validation and test).
    """
    if "event" in frame.columns:
        types = list(event_order) if event_order else sorted(frame["event"].unique())
        rank = {t: i + 1 for i, t in enumerate(types)}
        frame = frame[frame["event"].isin(rank)]
        event_codes = frame["event"].map(rank).to_numpy(np.int64)
    else:
        types = ["interaction"]
        event_codes = np.ones(len(frame), dtype=np.int64)
    user_values = frame["user"].to_numpy()
    item_values = frame["item"].to_numpy()
    # group rows by user keeping the given order (first appearance order of users)
    codes, uniques = pd.factorize(user_values)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    sequences, dropped = [], []
    for rows in np.split(order, bounds):
        seq_items, seq_events = item_values[rows], event_codes[rows]
        if collapse_repeats and len(rows) > 1:
            keep_items, keep_events = [seq_items[0]], [seq_events[0]]
            for it, ev in zip(seq_items[1:], seq_events[1:]):
                if it == keep_items[-1]:
                    keep_events[-1] = max(keep_events[-1], ev)
                else:
                    keep_items.append(it)
                    keep_events.append(ev)
            seq_items, seq_events = np.array(keep_items, dtype=object), np.array(keep_events, dtype=np.int64)
        if len(seq_items) >= min_length:
            sequences.append((seq_items, seq_events))
        else:
            dropped.append(seq_items)
    all_items = pd.Index(pd.unique(np.concatenate([s[0] for s in sequences]))) if sequences else pd.Index([])
    dataset = Dataset(
        name=name,
        item_keys=[str(k) for k in all_items],
        items=[all_items.get_indexer(s[0]).astype(np.int64) + 1 for s in sequences],
        events=[np.asarray(s[1], dtype=np.int64) for s in sequences],
        event_types=types,
        dropped_users=len(dropped),
    )
    if dropped:
        dataset.dropped_items = int(len(pd.Index(pd.unique(np.concatenate(dropped))).difference(all_items)))
    known = set(dataset.item_keys)
    for column in ("text", "category"):
        if column in frame.columns:
            pairs = frame[["item", column]].drop_duplicates("item")
            setattr(
                dataset,
                column,
                {str(k): str(v) for k, v in zip(pairs["item"], pairs[column]) if str(k) in known and str(v)},
            )
    return dataset


# --------------------------------------------------------------------------- named datasets


def load_ml1m(path: str | None = None, metadata: bool = True) -> Dataset:
    """ML-1M as preprocessed by the SASRec authors; titles and genres as item text/category."""
    path = path or DEFAULT_PATHS["ml-1m"]
    dataset = load_sasrec_txt(path, "ml-1m")
    dataset.notes = "SASRec preprocessing (5-core), no duplicates"
    folder = os.path.dirname(path)
    mapping_path = os.path.join(folder, "sas_to_original_items.txt")
    movies_path = os.path.join(folder, "movies.dat.gz")
    if metadata and os.path.exists(mapping_path) and os.path.exists(movies_path):
        with open(mapping_path) as handle:
            mapping = dict(line.split() for line in handle if line.strip())
        movies = {}
        with gzip.open(movies_path, "rt", encoding="iso-8859-1") as handle:
            for line in handle:
                movie_id, title, genres = line.rstrip("\n").split("::")
                movies[movie_id] = (title, genres)
        for key in dataset.item_keys:
            movie = movies.get(mapping.get(key, ""))
            if movie:
                dataset.text[key] = f"{movie[0]} {movie[1].replace('|', ' ')}"
                dataset.category[key] = movie[1].split("|")[0]
    return dataset


def load_taobao(path: str | None = None) -> Dataset:
    """Taobao UserBehavior head: pv < fav < cart < buy; consecutive repeats merged."""
    dataset = load_csv(
        path or DEFAULT_PATHS["taobao"],
        names=["user", "item", "category", "behavior", "ts"],
        user="user",
        item="item",
        time="ts",
        event="behavior",
        category="category",
        event_order=["pv", "fav", "cart", "buy"],
        name="taobao",
    )
    dataset.notes = "all behaviours (pv/fav/cart/buy), consecutive repeats of an item merged, users with >= 3 tokens"
    return dataset


def load_online_retail(path: str | None = None) -> Dataset:
    """UCI Online Retail: purchase lines of known customers (no cancellations/returns)."""
    dataset = load_csv(
        path or DEFAULT_PATHS["online-retail"],
        user="CustomerID",
        item="StockCode",
        time="InvoiceDate",
        text="Description",
        time_format="%Y-%m-%d %H:%M:%S",
        query="~InvoiceNo.str.startswith('C') and ~InvoiceNo.str.startswith('A') "
        "and Quantity.str.lstrip('-').str.isdigit() and Quantity.astype('int') > 0",
        name="online-retail",
    )
    dataset.notes = "purchase lines of customers with an id, invoice-line order, consecutive repeats merged"
    return dataset


LOADERS = {"ml-1m": load_ml1m, "taobao": load_taobao, "online-retail": load_online_retail, "txt": None, "csv": None}


def parse_columns(spec: str) -> dict:
    """``"user=CustomerID,item=StockCode,time=InvoiceDate"`` → keyword arguments of ``load_csv``."""
    out = {}
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        key, sep, value = part.partition("=")
        if not sep or key not in ("user", "item", "time", "event", "text", "category"):
            raise ValueError(
                f"bad column mapping {part!r}: use user=,item= and optionally time=,event=,text=,category="
            )
        out[key] = value
    if "user" not in out or "item" not in out:
        raise ValueError("the column mapping needs at least user= and item=")
    return out


def load(name: str, path: str | None = None, columns: str = "", event_order: str = "") -> Dataset:
    """A named dataset, or ``txt`` (SASRec format) / ``csv`` (with ``columns``) at ``path``."""
    if name not in LOADERS:
        raise ValueError(f"Unknown dataset {name!r}; known: {', '.join(LOADERS)}")
    if name in ("txt", "csv") and not path:
        raise ValueError(f"--dataset {name} needs --path")
    if name == "txt":
        return load_sasrec_txt(path, os.path.basename(path))
    if name == "csv":
        order = [e for e in event_order.split(",") if e] or None
        return load_csv(path, name=os.path.basename(path), event_order=order, **parse_columns(columns))
    return LOADERS[name](path)
