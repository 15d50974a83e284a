"""Server side of the interpretability suite: core analyses, tensor store, gRPC servicers and
the Ray Serve fleet. Layers (each may import only those above it in this list):

- ``core``     -- torch/transformers/captum; pure analysis functions and dataclasses.
- ``store``    -- the ``TensorStore`` protocol with S3 and local-directory backends.
- ``rpc``      -- generated stubs, grpc; codecs, servicers, the shared toolkit, the error table.
- ``registry`` -- the service registry (one entry per service); ``settings``; ``local`` (the
  fleet in plain gRPC servers, without Ray).
- ``serve``    -- Ray Serve: the generic service deployment, the gateway, metrics, the launcher.
"""
