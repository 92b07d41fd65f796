"""Pure experiment domain: definitions, validation, allocation, hashing, assignment.

No I/O and no Kafka, Faust or ClickHouse imports: the SDK and the workers share it.
"""
