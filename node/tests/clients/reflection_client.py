#!/usr/bin/env python3
"""A generic gRPC client that knows Tianping only through server reflection.

No .proto files and no generated stubs: it asks the node for its services and their message
descriptors (grpc.reflection.v1alpha, which grpcio-reflection's client speaks), builds message
classes from them at run time, and then:

1. lists the services and checks tianping.v1.Ledger, tianping.v1.Payouts,
   tianping.v1.Reconciliation, tianping.v1.Admin and grpc.health.v1.Health are among them;
2. creates two accounts and a transfer between them, checking every result code is ok (0) or
   exists (3: a replay of the same ids, so running the script twice against one cluster passes);
3. looks the transfer up and checks its amount and accounts.

Any failure exits non-zero with a message. Used by `cargo xtask test` against `tianping dev up`.

Usage: reflection_client.py HOST:PORT [--id-base N]
"""

import argparse
import sys
import time

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

LEDGER_SERVICE = "tianping.v1.Ledger"
EXPECTED_SERVICES = {
    LEDGER_SERVICE,
    "tianping.v1.Payouts",
    "tianping.v1.Reconciliation",
    "tianping.v1.Admin",
    "grpc.health.v1.Health",
}
SUCCESS = {0, 3}  # ok, exists
RPC_TIMEOUT_S = 10
UNAVAILABLE_ATTEMPTS = 20


def fail(message):
    print(f"reflection client: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


class ReflectedService:
    """Calls the unary methods of one service, with message classes built from reflection."""

    def __init__(self, channel, pool, service_name):
        self.channel = channel
        self.service = pool.FindServiceByName(service_name)
        self.methods = {method.name: method for method in self.service.methods}

    def new(self, method_name, **fields):
        method = self.methods[method_name]
        return message_factory.GetMessageClass(method.input_type)(**fields)

    def call(self, method_name, request):
        method = self.methods[method_name]
        response_class = message_factory.GetMessageClass(method.output_type)
        stub = self.channel.unary_unary(
            f"/{self.service.full_name}/{method_name}",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_class.FromString,
        )
        for attempt in range(UNAVAILABLE_ATTEMPTS):
            try:
                return stub(request, timeout=RPC_TIMEOUT_S)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE or attempt + 1 == UNAVAILABLE_ATTEMPTS:
                    fail(f"{method_name}: {error.code().name}: {error.details()}")
                time.sleep(0.2)
        fail(f"{method_name}: still unavailable")


def check_results(what, response, count):
    codes = [(result.code, result.code_name) for result in response.results]
    if len(codes) != count or any(code not in SUCCESS for code, _ in codes):
        fail(f"{what}: expected {count} ok/exists results, got {codes}")
    print(f"{what}: {[name for _, name in codes]} at log index {response.log_index}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", help="a node's client API, HOST:PORT")
    parser.add_argument("--id-base", type=int, default=9_000_000, help="first id to use")
    arguments = parser.parse_args()

    channel = grpc.insecure_channel(arguments.address)
    try:
        grpc.channel_ready_future(channel).result(timeout=RPC_TIMEOUT_S)
    except grpc.FutureTimeoutError:
        fail(f"cannot connect to {arguments.address}")

    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    print(f"services: {sorted(services)}")
    missing = EXPECTED_SERVICES - services
    if missing:
        fail(f"services missing from reflection: {sorted(missing)}")
    pool = descriptor_pool.DescriptorPool(database)
    ledger = ReflectedService(channel, pool, LEDGER_SERVICE)
    print(f"{LEDGER_SERVICE} methods: {sorted(ledger.methods)}")

    base = arguments.id_base
    debit, credit, transfer_id = str(base + 1), str(base + 2), str(base + 3)
    amount = "18446744073709551616"  # 2^64: beyond u64, so the u128 decimal path is used

    # Repeated message fields take dicts; the message classes come from reflection only.
    accounts = ledger.new(
        "CreateAccounts",
        accounts=[
            {"id": debit, "ledger": 156, "code": 1},
            {"id": credit, "ledger": 156, "code": 1},
        ],
    )
    check_results("CreateAccounts", ledger.call("CreateAccounts", accounts), 2)

    transfers = ledger.new(
        "CreateTransfers",
        transfers=[
            {
                "id": transfer_id,
                "debit_account_id": debit,
                "credit_account_id": credit,
                "amount": amount,
                "ledger": 156,
                "code": 1,
            }
        ],
    )
    check_results("CreateTransfers", ledger.call("CreateTransfers", transfers), 1)

    # Reads see this node's replica: wait briefly for it to apply the transfer.
    for _ in range(50):
        found = ledger.call("LookupTransfers", ledger.new("LookupTransfers", ids=[transfer_id]))
        if len(found.transfers) == 1:
            break
        time.sleep(0.1)
    else:
        fail(f"transfer {transfer_id} not found on {arguments.address}")
    transfer = found.transfers[0]
    if (transfer.amount, transfer.debit_account_id, transfer.credit_account_id) != (
        amount,
        debit,
        credit,
    ):
        fail(f"transfer {transfer_id} reads back wrong: {transfer}")
    print(f"LookupTransfers: transfer {transfer.id} moved {transfer.amount} from {debit} to {credit}")
    print("reflection client: ok")


if __name__ == "__main__":
    main()
