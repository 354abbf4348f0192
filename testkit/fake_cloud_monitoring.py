"""A local Cloud Monitoring ``MetricService`` that speaks the real wire protocol (gRPC).

``google-cloud-monitoring`` has no REST transport, so the fake is a gRPC server in-process:
``ListTimeSeries`` answers whatever series a test loaded for the requested metric type and
records every request, so tests can check the filters and aggregations the adapter sends.
With ``tls`` (a key and certificate, ``testkit.fake_google_auth.loopback_tls``) it serves TLS
like Google's endpoint, so the unmodified client reaches it through ``api_endpoint`` alone.
"""

from __future__ import annotations

import re
from concurrent import futures
from typing import Any


class FakeMonitoring:
    """An in-process gRPC MetricService: ``series[metric_type]`` is returned for that type."""

    def __init__(self, tls: tuple[bytes, bytes] | None = None) -> None:
        import grpc
        from google.cloud.monitoring_v3.types import metric_service

        self.series: dict[str, list[Any]] = {}
        self.requests: list[Any] = []

        def list_time_series(request: Any, context: Any) -> Any:
            self.requests.append(request)
            m = re.search(r'metric\.type\s*=\s*"([^"]+)"', request.filter)
            found = self.series.get(m.group(1), []) if m else []
            return metric_service.ListTimeSeriesResponse(time_series=found)

        handler = grpc.method_handlers_generic_handler(
            "google.monitoring.v3.MetricService",
            {
                "ListTimeSeries": grpc.unary_unary_rpc_method_handler(
                    list_time_series,
                    request_deserializer=metric_service.ListTimeSeriesRequest.deserialize,
                    response_serializer=metric_service.ListTimeSeriesResponse.serialize,
                )
            },
        )
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((handler,))
        if tls is None:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            credentials = grpc.ssl_server_credentials([tls])
            self.port = self.server.add_secure_port("127.0.0.1:0", credentials)

    def start(self) -> FakeMonitoring:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(grace=None)

    def client(self) -> Any:
        import grpc
        from google.cloud import monitoring_v3
        from google.cloud.monitoring_v3.services.metric_service.transports import (
            MetricServiceGrpcTransport,
        )

        channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        return monitoring_v3.MetricServiceClient(
            transport=MetricServiceGrpcTransport(channel=channel)
        )
