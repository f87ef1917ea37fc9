"""The stack in containers: :class:`ContainerStack` is a :class:`~poslab.stack.stack.Stack`
whose services each run in a :class:`~poslab.stack.container_launcher.ContainerLauncher`."""

from __future__ import annotations

import asyncio
from typing import Any

from poslab.stack.container_launcher import (
    ContainerLauncher,
    ContainerSettings,
    remove_orphans,
    remove_run_containers,
)
from poslab.stack.launcher import ServiceLauncher
from poslab.stack.stack import Stack
from poslab.stack.topology import Mode, Service


class ContainerStack(Stack):
    """A :class:`Stack` whose lab services (and Toxiproxy) run as containers.

    The topology is the embedded one (services on 127.0.0.1, any free port);
    services the topology marks external stay external. ``orphan_guard``
    (the default) labels the containers with this process's pid: a lab that
    dies without stopping them (SIGKILL) leaves them to the next container
    stack's start, which removes them; ``lab up`` passes False.
    """

    def __init__(
        self, *args: Any, containers: ContainerSettings | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.containers = containers or ContainerSettings.for_run(
            self.run_dir, self.world_file, seed=self.seed
        )
        if not self.orphan_guard:  # lab up: the containers outlive this process
            self.containers.owner_pid = None

    async def up(self) -> Stack:
        # The containers of labs that died without stopping theirs (SIGKILL) go first.
        await asyncio.to_thread(remove_orphans, self.containers.client)
        return await super().up()

    def _launcher(self, service: Service) -> ServiceLauncher:
        if service.mode is Mode.EXTERNAL:
            return super()._launcher(service)
        return ContainerLauncher(
            service, self._spec(service), self._prober, self.containers, grace=self.grace
        )

    async def stop(self) -> None:
        try:
            await super().stop()
        finally:
            # Whatever a failed start or a lost handle left behind.
            await asyncio.to_thread(
                remove_run_containers, self.containers.client, self.containers.label
            )
