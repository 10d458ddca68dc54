"""What every capability builds on, and the one shape a capability has.

A capability is a construct class taking `(scope, id, platform)`. The stack instantiates a list of them, so adding
the sweep or the settlement relayer is one entry in that list. The helpers every construct shares (Consumer,
acknowledge, log_retention) live in `infra.constructs.common`, which imports no construct; this module imports the
foundation constructs and no capability, so nothing here closes an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from constructs import Construct

from infra.constants import StageSettings
from infra.constructs.common import Consumer

if TYPE_CHECKING:
    from infra.constructs.database import Database
    from infra.constructs.frames import FramesStore
    from infra.constructs.functions import FunctionFactory
    from infra.constructs.monitoring import Monitoring
    from infra.constructs.network import Network
    from infra.constructs.secrets import ExternalSecrets


@dataclass
class Platform:
    """The shared foundation: network, data stores, secrets, the function builder and monitoring."""

    settings: StageSettings
    network: Network
    functions: FunctionFactory
    database: Database
    secrets: ExternalSecrets
    frames: FramesStore
    monitoring: Monitoring
    # Code that writes outbox rows and delivers them after commit (the API routes that can tear video down, the
    # sweep): the settlement capability grants these its queue.
    outbox_writers: list[Consumer] = field(default_factory=list)


Capability = Callable[[Construct, str, Platform], Construct]
