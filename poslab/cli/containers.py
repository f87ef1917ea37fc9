"""Container mode for ``lab run --containers`` and ``lab up --containers``.

Every service of the world and the real Toxiproxy run as containers of the
lab's images (``scripts/build-images``) on a Docker engine
(``scripts/ensure-docker``): see :mod:`poslab.stack.container_launcher`.
``--containers`` sets ``LAB_CONTAINERS=1`` for the command, as ``--toxiproxy``
sets ``TOXIPROXY_URL``; the stack factory below then makes container stacks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from poslab.errors import StackError

if TYPE_CHECKING:
    from poslab.scenario import RunPlan
    from poslab.scenario.runner import StackFactory
    from poslab.scenario.spec.resolved import ResolvedScenario
    from poslab.stack import Stack
    from poslab.stack.topology import Topology

ENV = "LAB_CONTAINERS"


def use_containers(_ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--containers``: run this command's stacks in containers (``LAB_CONTAINERS=1``)."""
    if value:
        os.environ[ENV] = "1"


def containers_option() -> Any:
    return click.option(
        "--containers",
        is_flag=True,
        expose_value=False,
        callback=use_containers,
        help="Run every service and the real Toxiproxy in containers on a Docker engine "
        "(images: scripts/build-images); the same as LAB_CONTAINERS=1.",
    )


def wanted() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


def check_engine() -> None:
    """Exit 2 early (StackError) with what is missing: the engine or the images."""
    from poslab.stack.container_launcher import PROVISION_HINT, engine, missing_images

    missing = missing_images(engine())
    if missing:
        raise StackError(f"images not built: {', '.join(missing)}; build them: {PROVISION_HINT}")


def container_stack_factory(plan: RunPlan) -> StackFactory:
    """A fresh container stack per scenario (what ``default_stack_factory`` is for processes)."""
    from poslab.stack.container_launcher import ContainerSettings, engine
    from poslab.stack.container_stack import ContainerStack

    check_engine()
    client = engine()

    def make(scenario_dir: Path, world_file: Path, scenario: ResolvedScenario) -> Stack:
        settings = ContainerSettings.for_run(
            scenario_dir, world_file, seed=plan.settings.seed, client=client
        )
        return ContainerStack(
            plan.topology,
            world_file,
            scenario_dir,
            seed=plan.settings.seed,
            acquirer_config=scenario.acquirer or None,
            containers=settings,
        )

    return make


def engine_stack(
    topology: Topology,
    world_file: Path,
    run_dir: Path,
    state_file: Path,
    seed: int,
    timeout: float,
) -> Stack:
    """``lab up --containers``: a container stack that outlives the command
    (``lab down`` removes its containers); exit 2 first when the engine or an
    image is missing."""
    from poslab.stack.container_stack import ContainerStack

    check_engine()
    return ContainerStack(
        topology,
        world_file,
        run_dir,
        state_file=state_file,
        seed=seed,
        orphan_guard=False,
        ready_timeout=timeout,
    )


def running_containers(run_dir: Path) -> list[str]:
    """The services of a container stack (its run directory) whose container runs."""
    from poslab.stack.container_launcher import LABEL_RUN, LABEL_SERVICE, engine, run_label

    try:
        client = engine()
    except StackError:
        return []
    selector = {"label": f"{LABEL_RUN}={run_label(run_dir)}"}
    return sorted(
        c.labels.get(LABEL_SERVICE, c.name) for c in client.containers.list(filters=selector)
    )
