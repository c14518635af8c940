"""OneCard (食堂一卡通): a canteen one-card platform for a city's government units.

Every staff member eats at every participating canteen and pays from a personal meal
account their unit funds each quarter. Money is integer fen in a double-entry ledger.
"""

__version__ = "0.1.0"
