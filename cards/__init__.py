"""Adaptive Cards for Teams (schema 1.5): pure functions from the process's objects to card JSON.

Nothing here talks to Teams, storage or the clock; the dialogs and the notifier call these functions and send
what they return. Child-identifying details appear only on cards built for a party's 1:1 chat.
"""
