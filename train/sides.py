"""Which columns describe the user: the context side ``spec infer`` proposes.

A request ranks many items for one user. Columns of the context side are encoded once per request;
item columns once per candidate. A column that is constant within each value of the user column
(age, gender, occupation, zip code within ``user_id``) describes the user, so it belongs to the
context side with the user column itself. Left on the item side, a MovieLens bundle encoded the
user's five columns for every one of 100 candidates.

The user column is the one the caller names (``--user``), else the one column whose name says it
identifies the user (``user_id``, ``userId``, ``uid``, ``customer``, ``member_no``; not ``user_age``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from masknet_edge.train.numeric_kinds import name_tokens

__all__ = ["USER_TOKENS", "ContextProposal", "propose_context", "user_column"]

#: Name tokens that mark the column of the user a request is for.
USER_TOKENS = {"user", "userid", "uid", "customer", "member", "visitor", "account"}
#: Tokens that may stand beside a user token in the name of the user's key (``user_id``, ``member_no``).
KEY_TOKENS = {"id", "ids", "no", "key", "code"}
#: A column describes the user when it is constant within at least this share of users ...
CONSTANT_SHARE = 0.99
#: ... counted over users with at least two rows, of which there must be this many.
MIN_USERS = 20


@dataclass(frozen=True)
class ContextProposal:
    """The proposed context side: the user column, and why each column is on it."""

    user: str
    reasons: dict[str, str]  # column -> why it is on the context side


def user_column(columns: list[str]) -> str | None:
    """The one column whose name says it identifies the user (``user_id``, ``uid``, ``member``; not
    ``user_age``), or None when none or several do."""
    found = []
    for c in columns:
        tokens = set(name_tokens(c))
        if USER_TOKENS & tokens and tokens <= USER_TOKENS | KEY_TOKENS:
            found.append(c)
    return found[0] if len(found) == 1 else None


def propose_context(frame: pd.DataFrame, user: str, candidates: list[str]) -> ContextProposal:
    """The user column and each of ``candidates`` that is constant within each user's rows.

    Raises:
        ValueError: when ``user`` is not a column of ``frame``.
    """
    if user not in frame.columns:
        raise ValueError(f"no user column {user!r}; columns: {list(frame.columns)}")
    reasons = {user: f"the user a request is for ({user!r}): encoded once per request"}
    sizes = frame.groupby(user, dropna=True, sort=False).size()
    repeated = sizes[sizes >= 2].index
    if len(repeated) < MIN_USERS:
        return ContextProposal(user, reasons)
    rows = frame[frame[user].isin(repeated)]
    others = [c for c in candidates if c != user]
    if not others:
        return ContextProposal(user, reasons)
    distinct = rows.groupby(user, sort=False)[others].nunique(dropna=False)
    for column in others:
        share = float((distinct[column] <= 1).mean())
        if share >= CONSTANT_SHARE:
            reasons[column] = (
                f"constant within each {user} ({share:.1%} of {len(repeated)} users with 2+ rows): it "
                "describes the user and is encoded once per request"
            )
    return ContextProposal(user, reasons)
