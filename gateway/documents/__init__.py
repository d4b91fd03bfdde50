"""Documents for people: the coordinated statement (结算单) and the monthly 对账单."""
