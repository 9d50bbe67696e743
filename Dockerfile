# velotrain image: the API, the workers and the `velotrain` command.
#   CPU:  docker build -t velotrain:cpu .
#   CUDA: docker build --build-arg JAX_BUILD=cuda12 -t velotrain:cuda12 .
# The CUDA build takes CUDA and cuDNN from JAX's pip wheels, so the host needs only
# the NVIDIA driver and the NVIDIA Container Toolkit.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# cpu or cuda12; JAX_VERSION must match the jax pin in pyproject.toml.
ARG JAX_BUILD=cpu
ARG JAX_VERSION=0.10.2
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
# JAX first, in a layer of its own: it is the largest download and changes rarely.
RUN case "$JAX_BUILD" in \
        cpu) requirement="jax==${JAX_VERSION}" ;; \
        cuda12) requirement="jax[cuda12]==${JAX_VERSION}" ;; \
        *) echo "JAX_BUILD must be cpu or cuda12. Received: JAX_BUILD=$JAX_BUILD" >&2; \
           exit 1 ;; \
    esac \
    && pip install "$requirement" "jaxlib==${JAX_VERSION}"
WORKDIR /src
COPY . .
RUN pip install . && pip check

FROM ${PYTHON_IMAGE} AS runtime
ARG JAX_BUILD=cpu
LABEL org.opencontainers.image.title="velotrain" \
      org.opencontainers.image.description="VeLO and Adam training service ($JAX_BUILD)"
RUN groupadd --system --gid 10001 velotrain \
    && useradd --system --uid 10001 --gid velotrain --create-home \
        --home-dir /home/velotrain --shell /usr/sbin/nologin velotrain \
    && mkdir -p /var/lib/velotrain \
    && chown velotrain:velotrain /var/lib/velotrain
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    KERAS_BACKEND=jax \
    VELOTRAIN_DATA_DIR=/var/lib/velotrain \
    VELOTRAIN_HOST=0.0.0.0 \
    VELOTRAIN_PORT=8000
USER velotrain:velotrain
WORKDIR /var/lib/velotrain
EXPOSE 8000
ENTRYPOINT ["velotrain"]
CMD ["api", "--migrate"]
