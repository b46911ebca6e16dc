import type { Socket } from "node:net";
import { SelloError } from "@sello/core";
import { toErrorResponse } from "@sello/guard";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { RateLimitedError } from "../auth-service.js";

/**
 * Fastify's own error codes for request bodies, mapped to Sello codes, with a message where the
 * code's default message would not say what is wrong.
 */
const FASTIFY_CODES: Record<string, { code: SelloError["code"]; message?: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: "unsupported_media_type" },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: "invalid_request",
    message: "The Content-Length header does not match the length of the request body.",
  },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: "payload_too_large" },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    code: "invalid_request",
    message:
      "The request says its body is JSON but the body is empty. Send a JSON object, or leave out the Content-Type header when there is no body.",
  },
  FST_ERR_CTP_INVALID_JSON_BODY: {
    code: "invalid_request",
    message: "The request body is not valid JSON.",
  },
  FST_ERR_CTP_EMPTY_TYPE: { code: "unsupported_media_type" },
  FST_ERR_CTP_INVALID_TYPE: { code: "unsupported_media_type" },
};

/**
 * Converts anything a route throws into a SelloError. Sello errors keep their code, and Fastify's
 * body and validation errors get the matching one. Everything else becomes a 500 with a generic
 * message, so only the log contains the detail.
 */
export function toSelloError(error: unknown): SelloError {
  if (error instanceof SelloError) {
    return error;
  }
  const fastifyError = error as Partial<FastifyError>;

  if (fastifyError.validation !== undefined) {
    return new SelloError("validation_failed", {
      message: describeValidation(fastifyError),
      cause: error,
    });
  }
  const mapped = fastifyError.code === undefined ? undefined : FASTIFY_CODES[fastifyError.code];
  if (mapped !== undefined) {
    return new SelloError(mapped.code, {
      ...(mapped.message === undefined ? {} : { message: mapped.message }),
      cause: error,
    });
  }
  if (error instanceof SyntaxError || fastifyError.statusCode === 400) {
    return new SelloError("invalid_request", {
      message: "The request body is not valid JSON.",
      cause: error,
    });
  }
  if (fastifyError.statusCode === 413) {
    return new SelloError("payload_too_large", { cause: error });
  }
  if (fastifyError.statusCode === 415) {
    return new SelloError("unsupported_media_type", { cause: error });
  }
  if (
    fastifyError.statusCode !== undefined &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500
  ) {
    return new SelloError("invalid_request", { cause: error });
  }
  return new SelloError("internal_error", { cause: error });
}

/** The name of each request part in validation messages: the whole part, and one member. */
const PART_NAMES: Record<string, { whole: string; member: string }> = {
  body: { whole: "The request body", member: "field" },
  params: { whole: "The path", member: "path parameter" },
  querystring: { whole: "The query string", member: "query parameter" },
  headers: { whole: "The request headers", member: "header" },
};

/**
 * Describes the first schema violation in one line, naming the field but never its value, and
 * in plain words rather than the validator's own (no regular expressions, no "must NOT").
 */
function describeValidation(error: Partial<FastifyError>): string {
  const first = error.validation?.[0];
  const part = PART_NAMES[error.validationContext ?? "body"] ?? PART_NAMES.body;
  if (first === undefined || part === undefined) {
    return "The request body failed validation.";
  }
  const field = first.instancePath.replace(/^\//, "").replaceAll("/", ".");
  const params = first.params as Record<string, unknown>;
  if (first.keyword === "additionalProperties") {
    return `Unknown ${part.member} "${String(params.additionalProperty)}" in ${part.whole.toLowerCase()}.`;
  }
  if (first.keyword === "required") {
    return `${part.whole} lacks the required ${part.member} "${String(params.missingProperty)}".`;
  }
  if (
    field === "" &&
    first.keyword === "type" &&
    first.params.type === "object" &&
    part === PART_NAMES.body
  ) {
    // A request with no body at all also ends here, because its body reaches validation as undefined.
    return "The request body must be a JSON object, sent with Content-Type: application/json.";
  }
  const where = field === "" ? part.whole : `The ${part.member} "${field}"`;
  return `${where} ${describeRule(first.keyword, params)}.`;
}

/** Describes the rule of a failed schema keyword, without echoing patterns or values. */
function describeRule(keyword: string, params: Record<string, unknown>): string {
  const limit = Number(params.limit);
  switch (keyword) {
    case "type":
      return `must be ${String(params.type)
        .split(",")
        .map((type) => (type === "null" ? "null" : withArticle(type)))
        .join(" or ")}`;
    case "minLength":
      return limit === 1 ? "must not be empty" : `must be at least ${limit} characters long`;
    case "maxLength":
      return `must be at most ${limit} characters long`;
    case "minimum":
      return `must be at least ${limit}`;
    case "maximum":
      return `must be at most ${limit}`;
    case "minItems":
      return `must have at least ${limit} ${limit === 1 ? "item" : "items"}`;
    case "maxItems":
      return `must have at most ${limit} ${limit === 1 ? "item" : "items"}`;
    case "enum":
      return `must be one of ${(params.allowedValues as unknown[]).map((value) => JSON.stringify(value)).join(", ")}`;
    case "format":
      return `is not a valid ${String(params.format)}`;
    default:
      return "has an invalid format";
  }
}

function withArticle(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** The error code of each failed request's response, for metrics. */
export const responseErrorCodes = new WeakMap<FastifyRequest, string>();

/** Installs the error and not-found handlers, so every error response has the contract's shape. */
export function installErrorHandlers(app: FastifyInstance, realm: string): void {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const sello = toSelloError(error);
    if (sello.code === "internal_error" || sello.code === "service_unavailable") {
      request.log.error({ err: sello.cause ?? sello, code: sello.code }, "request failed");
    } else {
      request.log.info({ code: sello.code, reason: sello.reason }, "request rejected");
    }

    const response = toErrorResponse(sello, realm);
    responseErrorCodes.set(request, sello.code);
    if (sello instanceof RateLimitedError) {
      response.headers["retry-after"] = String(sello.retryAfterSeconds);
    }
    return reply.code(response.status).headers(response.headers).send(response.body);
  });

  app.setNotFoundHandler((_request, reply) => {
    const response = toErrorResponse(new SelloError("not_found"), realm);
    return reply.code(response.status).headers(response.headers).send(response.body);
  });
}

/**
 * Responds with the contract's JSON error, in place of Fastify's default body, to a request that
 * Node's HTTP parser rejects before Fastify receives it: headers over the size limit, a malformed
 * request line or header. The status stays the HTTP one (431 for oversized headers, 408 for a
 * timeout, else 400), and the code is `invalid_request`. Only the parser's error code is logged,
 * because the error also carries the raw request bytes, which may contain credentials.
 */
export function answerClientError(
  this: FastifyInstance,
  error: Error & { code?: string },
  socket: Socket,
): void {
  if (error.code === "ECONNRESET" || socket.destroyed) {
    return;
  }
  this.log.debug({ code: error.code }, "client error");

  let status = 400;
  let message = "The request is not valid HTTP.";
  if (error.code === "HPE_HEADER_OVERFLOW") {
    status = 431;
    message = "The request headers are too large.";
  } else if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    status = 408;
    message = "The request was not received in time.";
  }

  const body = JSON.stringify(new SelloError("invalid_request", { message }).toJSON());
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\n` +
        "Content-Type: application/json; charset=utf-8\r\n" +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        "Cache-Control: no-store\r\n" +
        "X-Content-Type-Options: nosniff\r\n" +
        "Connection: close\r\n\r\n" +
        body,
    );
  }
  socket.destroy();
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
};
