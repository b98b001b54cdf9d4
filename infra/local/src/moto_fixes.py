# Fixes to moto that the local stack needs (applied when moto starts).
#
# TransactWriteItems: moto applies a transaction's writes one by one and, when one fails,
# rolls back by swapping in a deep copy of the whole table taken before the transaction.
# That copy costs time and memory in proportion to the table on *every* transaction
# (a table of a few thousand items made each one take tens of milliseconds, and large
# benchmarks exhausted memory), and the swap orphaned the live stream shard that every
# shard iterator is bound to. Here a transaction is two-phase, as in DynamoDB: every
# condition is checked first and a failed one cancels the transaction before anything
# is written; only then are the writes applied, with the touched items (and the stream
# records they add) restored if applying one still fails. A lock keeps GetRecords and
# other writes from interleaving with a transaction.
import threading as _agora_threading

# One lock over the table's state: writes, transactions and stream reads (below), and
# whole DynamoDB requests (in `_agora_atomic_items`).
_AGORA_TABLE_LOCK = _agora_threading.RLock()


def _agora_fix_moto():
    import threading
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    lock = _AGORA_TABLE_LOCK
    get_records = DynamoDBStreamsBackend.get_records

    def transact_write_items(self, transact_items):
        import copy

        from moto.dynamodb.comparisons import get_filter_expression
        from moto.dynamodb.exceptions import (
            ConditionalCheckFailed,
            MockValidationException,
            MultipleTransactionsException,
            TooManyTransactionsException,
            TransactionCanceledException,
            TransactWriteSingleOpException,
        )

        with lock:
            if len(transact_items) > 100:
                raise TooManyTransactionsException()
            seen = set()
            errors = []
            plan = []
            # Phase 1: every condition, against the state before the transaction.
            for entry in transact_items:
                if len(list(entry.keys())) > 1:
                    raise TransactWriteSingleOpException
                original = None
                try:
                    op_type, op = next(iter(entry.items()))
                    if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                        raise ValueError("Unsupported transaction operation")
                    table_name = op["TableName"]
                    table = self.get_table(table_name)
                    if op_type == "Put":
                        attrs = op["Item"]
                        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                        if table.range_key_attr is not None:
                            key[table.range_key_attr] = attrs[table.range_key_attr]
                    else:
                        key = op["Key"]
                    unique = (str(table_name), str(dict(sorted(key.items()))))
                    if unique in seen:
                        raise MultipleTransactionsException()
                    seen.add(unique)
                    current = self.get_item(table_name, key)
                    condition = op.get("ConditionExpression")
                    if condition is not None:
                        check = get_filter_expression(
                            condition,
                            op.get("ExpressionAttributeNames"),
                            op.get("ExpressionAttributeValues"),
                        )
                        if not check.expr(current):
                            if (
                                op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
                                and current
                            ):
                                original = current.to_json()["Attributes"]
                            raise ConditionalCheckFailed(item=original)
                    plan.append((op_type, op, table_name, key))
                    errors.append((None, None, None))
                except (MultipleTransactionsException, MockValidationException):
                    raise
                except ConditionalCheckFailed as e:
                    errors.append(("ConditionalCheckFailed", str(e.message), original))
                except Exception as e:  # noqa: E722 moto reports any other failure per item
                    errors.append((type(e).__name__, str(e), original))
            if any(code is not None for code, _, _ in errors):
                raise TransactionCanceledException(errors)

            # Phase 2: the writes, undone item by item if one still fails.
            touched = []
            shard_lengths = {}
            for _, _, table_name, key in plan:
                table = self.tables[table_name]
                if table.stream_shard is not None and table_name not in shard_lengths:
                    shard_lengths[table_name] = len(table.stream_shard.items)
                touched.append((table, key, copy.deepcopy(self.get_item(table_name, key))))
            try:
                for op_type, op, table_name, key in plan:
                    names = op.get("ExpressionAttributeNames")
                    values = op.get("ExpressionAttributeValues")
                    if op_type == "Put":
                        self.put_item(
                            table_name,
                            op["Item"],
                            expression_attribute_names=names,
                            expression_attribute_values=values,
                        )
                    elif op_type == "Delete":
                        self.delete_item(
                            table_name,
                            key,
                            expression_attribute_names=names,
                            expression_attribute_values=values,
                        )
                    elif op_type == "Update":
                        self.update_item(
                            table_name,
                            key,
                            update_expression=op["UpdateExpression"],
                            expression_attribute_names=names,
                            expression_attribute_values=values,
                        )
            except Exception:
                for table, key, before in reversed(touched):
                    hash_value, range_value = self.get_keys_value(table, key)
                    if range_value is not None:
                        bucket = table.items[hash_value]
                        if before is None:
                            bucket.pop(range_value, None)
                        else:
                            bucket[range_value] = before
                    elif before is None:
                        table.items.pop(hash_value, None)
                    else:
                        table.items[hash_value] = before
                for table_name, length in shard_lengths.items():
                    shard = self.tables[table_name].stream_shard
                    del shard.items[length:]
                raise

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


_agora_fix_moto()


# Speed: moto answers every base-table Query by sorting *all* items of the table and
# then keeping the partition's, so a query got slower as the table grew (half of moto's
# time in the chat benchmark). Here a base-table Query looks only at its partition, as
# DynamoDB does (and, for begins_with on the sort key, only at the items with that
# prefix, as DynamoDB's range seek does), and an index Query skips that first sort (moto sorts its matches by the
# index keys afterwards anyway); the rest of moto's query (sort, pages, filters) is
# unchanged. And the
# service of each request was found by listing moto's package directory on every
# request; the answer depends only on the host, so it is remembered. The data-plane
# answers of DynamoDB and DynamoDB Streams (items, stream records) are already in their
# wire form, so they are written as JSON directly instead of being walked through
# moto's generic, model-driven response serializer, which cost a quarter of moto's time
# under chat load. Werkzeug's line per request is not logged.
def _agora_speed_up_moto():
    import base64
    import datetime
    import json
    import logging
    import threading
    from moto.core.responses import ActionResult
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler, DynamoResult
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    def wire_value(value):
        # Timestamps are epoch seconds in the JSON protocol (moto keeps naive UTC
        # datetimes); binary attribute values are base64.
        if isinstance(value, datetime.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=datetime.timezone.utc)
            return value.timestamp()
        if isinstance(value, (bytes, bytearray)):
            return base64.b64encode(value).decode("ascii")
        raise TypeError(f"cannot write {type(value).__name__} as JSON")

    def write_json_directly(handler, actions):
        serialized = handler.serialized

        def fast_serialized(self, action_result):
            plain = type(action_result) in (ActionResult, DynamoResult)
            if plain and isinstance(action_result.result, dict) and self._get_action() in actions:
                headers = {"Content-Type": "application/x-amz-json-1.0"}
                headers.update(self.response_headers)
                return 200, headers, json.dumps(action_result.result, default=wire_value)
            # Errors and control-plane answers keep moto's own serializer.
            return serialized(self, action_result)

        handler.serialized = fast_serialized

    write_json_directly(
        DynamoHandler,
        {
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "Query",
            "Scan",
            "BatchGetItem",
            "BatchWriteItem",
            "TransactGetItems",
            "TransactWriteItems",
        },
    )
    write_json_directly(DynamoDBStreamsHandler, {"GetShardIterator", "GetRecords"})

    scope = threading.local()
    all_items = Table.all_items
    query = Table.query

    def items_in_scope(self):
        partition = getattr(scope, "partition", None)
        if partition is None or partition[0] is not self:
            return all_items(self)
        _, hash_key, prefix = partition
        if hash_key is None:
            if self.range_key_attr:
                return [item for bucket in self.items.values() for item in bucket.values()]
            return list(self.items.values())
        bucket = self.items.get(hash_key)
        if bucket is None:
            return []
        if not self.range_key_attr:
            return [bucket]
        items = bucket.values()
        if prefix is not None:
            # begins_with on the sort key: only those can match (moto checks again).
            items = [
                item
                for item in items
                if item.range_key.type == "S" and item.range_key.value.startswith(prefix)
            ]
        return sorted(items, key=lambda item: item.range_key.cast_value)

    def partition_query(self, hash_key, *args, **kwargs):
        # Table.query's parameters after hash_key: range_comparison, range_objs, ...,
        # index_name (the seventh), given by position or by name.
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        comparison, operands = (args[0], args[1]) if len(args) > 1 else (None, [])
        prefix = None
        if (
            isinstance(comparison, str)
            and comparison.upper() == "BEGINS_WITH"
            and len(operands) == 1
            and operands[0].type == "S"
        ):
            prefix = operands[0].value
        # An index query sees every item (unsorted); a base-table one its partition,
        # narrowed to a begins_with prefix when there is one.
        if index_name:
            scope.partition = (self, None, None)
        else:
            scope.partition = (self, hash_key, prefix)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            scope.partition = None

    Table.all_items = items_in_scope
    Table.query = partition_query

    backend_for_host = DomainDispatcherApplication.get_backend_for_host
    backends = {}

    def remembered_backend_for_host(self, host):
        if host not in backends:
            backends[host] = backend_for_host(self, host)
        return backends[host]

    DomainDispatcherApplication.get_backend_for_host = remembered_backend_for_host


_agora_speed_up_moto()


# Item-level atomicity: DynamoDB never shows a read half of a write. moto applies an
# UpdateItem's SET actions to the stored item one by one, and builds a GetItem or Query
# answer from the live item after its backend call returns, so a read served by another
# thread could see `lastMessageId` already moved and `messageCount` not yet: a torn item
# that AWS never returns (it let two chat sends take the same `seq`). Each DynamoDB
# request therefore runs whole under the table lock. moto handles requests without I/O,
# so this costs no throughput under the GIL.
def _agora_atomic_items():
    from moto.dynamodb.responses import DynamoHandler

    call_action = DynamoHandler.call_action

    def atomic_call_action(self):
        with _AGORA_TABLE_LOCK:
            return call_action(self)

    DynamoHandler.call_action = atomic_call_action


_agora_atomic_items()


# S3 presigned URLs: moto serves them but never checks their expiry. Here a request
# whose query string carries SigV4 presigning parameters (X-Amz-Date + X-Amz-Expires) is
# refused after it expires, with S3's 403 AccessDenied "Request has expired", so the
# export download URLs expire locally as they do in AWS.
def _agora_expire_presigned_urls():
    import datetime
    from urllib.parse import parse_qs

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    call = DomainDispatcherApplication.__call__

    def expiring_call(self, environ, start_response):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        signed_at = query.get("X-Amz-Date", [None])[0]
        lifetime = query.get("X-Amz-Expires", [None])[0]
        if signed_at and lifetime:
            try:
                start = datetime.datetime.strptime(signed_at, "%Y%m%dT%H%M%SZ").replace(
                    tzinfo=datetime.timezone.utc
                )
                expires = start + datetime.timedelta(seconds=int(lifetime))
            except ValueError:
                expires = None
            if expires is not None and datetime.datetime.now(datetime.timezone.utc) > expires:
                body = (
                    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                    "<Message>Request has expired</Message></Error>"
                ).encode()
                start_response(
                    "403 Forbidden",
                    [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
                )
                return [body]
        return call(self, environ, start_response)

    DomainDispatcherApplication.__call__ = expiring_call


_agora_expire_presigned_urls()
