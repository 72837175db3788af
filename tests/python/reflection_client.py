"""What a Python integrator sees: lists services through grpcio's reflection v1alpha
client, fetches one service's descriptor, and asks grpc.health.v1 for its status.

Usage: python3 reflection_client.py HOST:PORT SERVICE
Prints one line per listed service, then `descriptor <file>` and `health <STATUS>`.
"""

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc


def main(address: str, service: str) -> None:
    with grpc.insecure_channel(address) as channel:
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol=service),
        ]
        for response in reflection.ServerReflectionInfo(iter(requests), timeout=10):
            kind = response.WhichOneof("message_response")
            if kind == "list_services_response":
                for listed in response.list_services_response.service:
                    print(f"service {listed.name}")
            elif kind == "file_descriptor_response":
                print(f"descriptor {len(response.file_descriptor_response.file_descriptor_proto)} files")
            else:
                print(f"error {response.error_response.error_message}")
        health = health_pb2_grpc.HealthStub(channel)
        status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
        print(f"health {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
