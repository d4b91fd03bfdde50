"""The nightly run's SQL, apart from its control flow (``reconciliation.run``): the
classification of every payer-line key (``classify``) and the work queue's update (``items``)."""
