"""The OCPP 2.0.1 WebSocket gateway: stations in, gRPC services out."""
