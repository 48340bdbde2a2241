"""The record types' former home: they are `bot.records` now (a types layer beside the tracker's
types, shared by the store and the actions). Kept while `bot/store/sqlite.py` imports them from
here; drop it once that import names `bot.records`."""

from bot.records import Escalation as Escalation
