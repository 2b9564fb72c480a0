"""The ``drucker.DruckerWorker`` service: 25 ``Predict_<In>_<Out>`` rpcs from one table.

Every pair of input and output kinds gets a handler of the streaming shape the 0.4.5 protocol
gives it: ``Bytes`` input is client-streaming (all chunks are joined, up to the message size
limit in all), ``Bytes`` output is
server-streaming, ``Bytes``→``Bytes`` is bidirectional, the rest are unary.

On a server of several models a request goes to the model its ``x-rekcurd-application-name``
metadata names (the default model without it); a one-model server reads no metadata.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio

from drucker.admission import Caller
from drucker.dispatch import Dispatcher
from drucker.errors import DruckerError, TooLargeError
from drucker.kinds import Kind, rpc_name
from drucker.models import ModelTable
from drucker.protocol.drucker_values import (
    INPUT_MESSAGES,
    OUTPUT_MESSAGES,
    build_output,
    chunk_bytes_output,
    dump_option,
    input_value,
    parse_option,
)
from drucker.protocol.packed import PendingArrInt, arr_float_request, arr_int_request
from drucker.protocol.status import answer_or_abort, failure
from drucker.types import PredictResult

SERVICE_NAME = "drucker.DruckerWorker"


def _dispatcher(models: ModelTable, context: grpc.aio.ServicerContext) -> Dispatcher:
    """The dispatcher of the model the request names (raises ``NotFoundError``)."""
    only = models.only
    if only is not None:
        return only
    return models.for_metadata(context.invocation_metadata()).dispatcher


async def _predict(
    models: ModelTable,
    context: grpc.aio.ServicerContext,
    value: Any,
    option_text: str,
    input_kind: Kind,
    output_kind: Kind,
    caller: Caller,
) -> tuple[PredictResult, str]:
    """Decode the option, predict, encode the answer's option."""
    dispatcher = _dispatcher(models, context)
    option = parse_option(option_text)
    result = await dispatcher.predict(value, option, input_kind, output_kind, caller=caller)
    return result, dump_option(result.option)


async def _joined_bytes(requests: AsyncIterator[Any], limit: int) -> tuple[bytes, str]:
    """All chunks of a client-streamed Bytes input, and the first non-empty option.

    :raises TooLargeError: as soon as the chunks add up to more than ``limit`` bytes.
    """
    chunks: list[bytes] = []
    option_text = ""
    total = 0
    async for request in requests:
        total += len(request.input)
        if total > limit:
            raise TooLargeError(
                f"the streamed Bytes input exceeds {limit} bytes (grpc.max_message_bytes)"
            )
        chunks.append(request.input)
        if not option_text and request.option.val:
            option_text = request.option.val
    return b"".join(chunks), option_text


# Big array inputs reach plugins as numpy arrays, never as protobuf's container of numbers.
_DESERIALIZERS = {Kind.ARR_FLOAT: arr_float_request, Kind.ARR_INT: arr_int_request}


async def _decoded(request: Any) -> Any:
    """The request with its values: a big ArrInt request's varints are decoded in a thread,
    so that the event loop (health checks, other rpcs) goes on meanwhile.

    :raises InvalidInputError: when they do not decode.
    """
    if isinstance(request, PendingArrInt):
        return await asyncio.to_thread(request.decode)
    return request


def _make_handler(
    models: ModelTable, input_kind: Kind, output_kind: Kind, chunk_bytes: int, max_bytes: int
) -> grpc.RpcMethodHandler:
    request_type = INPUT_MESSAGES[input_kind]
    response_type = OUTPUT_MESSAGES[output_kind]
    codec = {
        "request_deserializer": _DESERIALIZERS.get(input_kind, request_type.FromString),
        "response_serializer": response_type.SerializeToString,
    }
    pending = input_kind is Kind.ARR_INT  # a big request's values are decoded in the rpc

    async def answer(
        value: Any, option_text: str, context: grpc.aio.ServicerContext
    ) -> tuple[PredictResult, str]:
        work = _predict(models, context, value, option_text, input_kind, output_kind, context)
        return await answer_or_abort(context, work)

    if output_kind is Kind.BYTES:

        async def stream_out(value: Any, option_text: str, context: Any) -> AsyncIterator[Any]:
            result, out_option = await answer(value, option_text, context)
            for message in chunk_bytes_output(result.label, result.score, out_option, chunk_bytes):
                yield message

        if input_kind is Kind.BYTES:

            async def bytes_bytes(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
                joined = _joined_bytes(requests, max_bytes)
                value, option_text = await answer_or_abort(context, joined)
                async for message in stream_out(value, option_text, context):
                    yield message

            return grpc.stream_stream_rpc_method_handler(bytes_bytes, **codec)

        async def unary_bytes(request: Any, context: Any) -> AsyncIterator[Any]:
            if pending:
                request = await answer_or_abort(context, _decoded(request))
            value = input_value(request, input_kind)
            async for message in stream_out(value, request.option.val, context):
                yield message

        return grpc.unary_stream_rpc_method_handler(unary_bytes, **codec)

    async def respond(value: Any, option_text: str, context: Any) -> Any:
        result, out_option = await answer(value, option_text, context)
        return build_output(output_kind, result.label, result.score, out_option)

    if input_kind is Kind.BYTES:

        async def bytes_unary(requests: AsyncIterator[Any], context: Any) -> Any:
            joined = _joined_bytes(requests, max_bytes)
            value, option_text = await answer_or_abort(context, joined)
            return await respond(value, option_text, context)

        return grpc.stream_unary_rpc_method_handler(bytes_unary, **codec)

    output_message = OUTPUT_MESSAGES[output_kind]

    async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        # The hot path, flattened: every rpc of the common shape passes here. It does inline
        # what input_value, parse_option, dump_option and build_output do for the common case
        # (the input field as it is, no option or an empty one), and calls them otherwise.
        try:
            if pending:
                request = await _decoded(request)
            text = request.option.val
            option = parse_option(text) if text else {}
            only = models.only  # one model: no metadata to read
            predict = (
                only.predict
                if only is not None
                else models.for_metadata(context.invocation_metadata()).dispatcher.predict
            )
            result = await predict(request.input, option, input_kind, output_kind, caller=context)
            out_option = dump_option(result.option) if result.option else "{}"
        except DruckerError as error:
            code, message, extra = failure(error)
        else:
            answer = output_message(output=result.label, score=result.score)
            answer.option.val = out_option
            return answer
        await context.abort(code, message, extra)  # outside the except: no chained error

    return grpc.unary_unary_rpc_method_handler(unary_unary, **codec)


def worker_rpc_handler(
    models: ModelTable, chunk_bytes: int, max_bytes: int
) -> grpc.GenericRpcHandler:
    """The generic handler serving all 25 Predict rpcs through the models' dispatchers.

    A client-streamed Bytes input may add up to ``max_bytes`` (the message size limit).
    """
    handlers = {
        rpc_name(i, o): _make_handler(models, i, o, chunk_bytes, max_bytes)
        for i in Kind
        for o in Kind
    }
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)
