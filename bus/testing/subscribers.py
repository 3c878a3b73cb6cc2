"""A subscriber running in the background of a test, for the length of a block.

async with running(subscriber):
    await publisher.publish(event)
    await wait_until(lambda: subscriber.stats.handled == 1)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from bus.subscribe import Subscriber

__all__ = ["running"]


@contextlib.asynccontextmanager
async def running(
    subscriber: Subscriber, deadline: float = 30.0, *, retries: bool = False
) -> AsyncIterator[Subscriber]:
    """Run `subscriber` until the block ends, once assigned (with `retries`, its retry topics too).

    Leaving the block fails if the subscriber stopped before it ended: only `stop()` ends
    `run()`, and it is called here, after the block.
    """
    await subscriber.start()
    task = asyncio.create_task(subscriber.run())
    try:
        await asyncio.wait_for(subscriber.assigned.wait(), deadline)
        if retries:
            await asyncio.wait_for(subscriber.retries_assigned.wait(), deadline)
        yield subscriber
        if task.done():
            task.result()  # the crash, with its own traceback
            raise AssertionError("the subscriber stopped before the block ended")
    finally:
        await subscriber.stop()
        await asyncio.wait_for(task, deadline)
