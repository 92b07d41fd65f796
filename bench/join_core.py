"""The pure join (`agents.join.JoinProcessor`) over in-memory user states, no Kafka.

    python -m bench.join_core [--users 20000] [--rounds 3]

Simulates the demo's traffic (`configs/demo.yaml`, `experiments.simulation`:
duplicates, late and reordered events), encodes every delivery as the Kafka record
the join reads (Confluent-framed Avro, keyed by user id, users spread over 4
partitions by Kafka's default partitioner) and feeds it in delivery order, in
batches of 1,000 messages, to a fresh processor each round:

1. a decode-only loop over the same records (the baseline);
2. the join, its users stored as the dicts it returns (in memory);
3. the join, its users stored as JSON bytes (orjson), as the worker's table does;
4. the same join over batch records: the deliveries of each partition packed
   `PACKED` events a record, in the same order, 1,000 events a batch.

Prints the median events/s (of CPU time) of each over the rounds and the ratios to
the baseline. The process collects garbage as the worker does
(`abstream.worker.collect_garbage_less_often`).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka.partitioner import DefaultPartitioner

from abstream.demo import DEMO_CONFIG
from abstream.worker import collect_garbage_less_often
from agents.join import JoinProcessor, Message
from experiments import ConfigSnapshot, load_config_file
from experiments.attribution import ExperimentRules
from experiments.simulation import SimulationSpec, default_effects, simulate
from schemas import current_registry, decode, encode, frame_batch
from topology.topics import TopicNames

PARTITIONS = 4
BATCH = 1_000
PACKED = 100  # events per batch record
NAMES = TopicNames("bench")


def records(snapshot: ConfigSnapshot, users: int) -> list[Message]:
    """The simulated deliveries as the join's messages, offsets counted per partition."""
    spec = SimulationSpec(users=users, seed=1, now_ms=int(time.time() * 1000),
                          effects=default_effects(snapshot))
    partitioner, partitions = DefaultPartitioner(), list(range(PARTITIONS))
    offsets: dict[tuple[str, int], int] = {}
    messages = []
    for delivery in simulate(snapshot, spec).deliveries:
        key = delivery.record["user_id"].encode()
        topic = NAMES.exposures if delivery.kind == "exposure" else NAMES.events
        partition = partitioner(key, partitions, partitions)
        offset = offsets[topic, partition] = offsets.get((topic, partition), -1) + 1
        value = encode(delivery.kind, delivery.record, validate=False)
        messages.append((topic, partition, offset, key, value))
    return messages


def packed(messages: list[Message]) -> list[Message]:
    """The same events in batch records of up to PACKED events of one topic-partition."""
    runs: dict[tuple[str, int], list[Message]] = {}
    out: list[Message] = []

    def close(topic: str, partition: int) -> None:
        run = runs.pop((topic, partition))
        kind = "exposure" if topic == NAMES.exposures else "goal_event"
        value = frame_batch(kind, [m[4] or b"" for m in run], current_registry())
        out.append((topic, partition, run[0][2], run[0][3], value))

    for message in messages:
        runs.setdefault(message[:2], []).append(message)
        if len(runs[message[:2]]) == PACKED:
            close(*message[:2])
    for topic, partition in list(runs):
        close(topic, partition)
    return out


def decode_only(messages: list[Message]) -> None:
    for topic, _, _, _, value in messages:
        decode("exposure" if topic == NAMES.exposures else "goal_event", value)


def join(snapshot: ConfigSnapshot, as_json: bool,
         per_call: int = BATCH) -> Callable[[list[Message]], None]:
    rules = {e.key: ExperimentRules.of(e) for e in snapshot.config.experiments}

    def run(messages: list[Message]) -> None:
        store: dict[str, Any] = {}
        load = ((lambda user_id, _: _loads(store.get(user_id))) if as_json
                else (lambda user_id, _: store.get(user_id)))
        processor = JoinProcessor(load, NAMES, lambda: rules, config=lambda: snapshot)
        for start in range(0, len(messages), per_call):
            outcome = processor.process(messages[start:start + per_call])
            for user_id, (_, state) in outcome.users.items():
                store[user_id] = orjson.dumps(state) if as_json else state

    return run


def _loads(stored: bytes | None) -> Any:
    return None if stored is None else orjson.loads(stored)


def rate(work: Callable[[list[Message]], None], messages: list[Message],
         events: int | None = None) -> float:
    """Per second of this process's CPU time: the loops are single-threaded, and on a
    machine shared with a broker and tests the wall clock also counts their work."""
    gc.collect()  # each loop starts with the garbage of the one before it gone
    start = time.process_time()
    work(messages)
    return (events or len(messages)) / (time.process_time() - start)


def pure_core(users: int) -> float:
    """Events/s of the join over in-memory states on the demo's traffic (one round)."""
    snapshot = ConfigSnapshot.build(load_config_file(DEMO_CONFIG))
    return rate(join(snapshot, as_json=False), records(snapshot, users))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    snapshot = ConfigSnapshot.build(load_config_file(DEMO_CONFIG))
    messages = records(snapshot, args.users)
    batches = packed(messages)
    collect_garbage_less_often()
    loops = {"decode only": decode_only, "join, in memory": join(snapshot, as_json=False),
             "join, JSON store": join(snapshot, as_json=True),
             "batch records": join(snapshot, as_json=True, per_call=BATCH // PACKED)}
    inputs = {name: messages for name in loops} | {"batch records": batches}
    rounds = [{name: rate(work, inputs[name], len(messages)) for name, work in loops.items()}
              for _ in range(args.rounds)]
    rates = {name: statistics.median(r[name] for r in rounds) for name in loops}
    print(f"{len(messages)} messages ({args.users} users, {PARTITIONS} partitions, "
          f"batches of {BATCH}); medians of {args.rounds} rounds")
    for name, value in rates.items():
        print(f"{name:<18} {value:>9.0f} events/s   {value / rates['decode only']:>5.2f}x "
              "decode only")
    for name in list(loops)[1:]:
        ratios = ", ".join(f"{r[name] / r['decode only']:.2f}" for r in rounds)
        print(f"{name} / decode only, per round: {ratios}")


if __name__ == "__main__":
    main()
