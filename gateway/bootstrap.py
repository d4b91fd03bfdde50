"""The composition root: settings, database, and the reference data the use cases share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.audit import Sealer
from gateway.config import Settings, load_settings
from gateway.domain.beijing_time import beijing_today
from gateway.domain.catalogue import ServiceCatalogue, default_catalogue
from gateway.domain.grading import GradingTable, default_table
from gateway.storage.database import make_engine, make_sessionmaker


@dataclass
class Gateway:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    grading: GradingTable
    catalogue: ServiceCatalogue
    sealer: Sealer = field(init=False)

    def __post_init__(self) -> None:
        self.sealer = Sealer(self.sessions)  # chains this process's audit entries after commit

    def today(self) -> date:
        return beijing_today()  # business dates are Beijing dates

    def close(self) -> None:
        self.sealer.close()
        self.engine.dispose()


def bootstrap(settings: Settings | None = None, engine: Engine | None = None) -> Gateway:
    settings = settings or load_settings()
    engine = engine or make_engine(settings.database_url)
    grading = (
        GradingTable.from_file(Path(settings.grading_table)) if settings.grading_table else default_table()
    )
    catalogue = (
        ServiceCatalogue.from_file(Path(settings.service_catalogue))
        if settings.service_catalogue
        else default_catalogue()
    )
    return Gateway(settings, engine, make_sessionmaker(engine), grading, catalogue)
