# moto rolls a cancelled TransactWriteItems back by putting a deep copy of the whole table,
# taken before the transaction, in place of the live one. The stream shard is part of
# that copy: the live shard object, which every shard iterator already handed out is
# bound to, keeps the cancelled writes (records DynamoDB never streams) and never gets
# another record. A GetRecords running in another request thread while the transaction
# is half applied also sees those writes, and their sequence numbers are then reused by
# the next real records. Here the live shard object survives the rollback with the
# pre-transaction records, and neither GetRecords nor another write interleaves with a
# transaction (a write landing during one was lost with the rollback's table copy).
def _agora_fix_stream_rollback():
    import threading
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    lock = threading.RLock()
    transact = DynamoDBBackend.transact_write_items
    get_records = DynamoDBStreamsBackend.get_records

    def transact_write_items(self, transact_items):
        with lock:
            shards = {name: t.stream_shard for name, t in self.tables.items()}
            try:
                return transact(self, transact_items)
            finally:
                for name, shard in shards.items():
                    table = self.tables.get(name)
                    if shard is None or table is None or table.stream_shard is shard:
                        continue
                    restored = table.stream_shard
                    if restored is not None:
                        shard.items[:] = restored.items
                    shard.table = table
                    table.stream_shard = shard

    def locked_get_records(self, iterator_arn, limit):
        with lock:
            return get_records(self, iterator_arn, limit)

    def locked(method):
        def call(*args, **kwargs):
            with lock:
                return method(*args, **kwargs)

        return call

    for name in ("put_item", "update_item", "delete_item", "batch_write_item"):
        if hasattr(DynamoDBBackend, name):
            setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = transact_write_items
    DynamoDBStreamsBackend.get_records = locked_get_records


_agora_fix_stream_rollback()
