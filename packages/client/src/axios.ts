import type { AxiosError, AxiosInstance, InternalAxiosRequestConfig } from "axios";
import { isTokenExpiredBody, parseJson } from "./http.js";
import type { Session } from "./types.js";

/** A request config with the token this adapter put on it, and whether it was retried. */
type TrackedConfig = InternalAxiosRequestConfig & { selloToken?: string; selloRetried?: boolean };

/**
 * Adds a request interceptor that sends the session's access token to the origins in
 * `tokenOrigins`, and a response interceptor that handles a 401 `token_expired` with one renewal
 * and one retry. A request that already has an `Authorization` header is left alone. Returns a
 * function that removes both interceptors.
 */
export function attachToAxios(session: Session, instance: AxiosInstance): () => void {
  const requestInterceptor = instance.interceptors.request.use(async (original) => {
    const config = original as TrackedConfig;
    const ours = config.selloToken !== undefined;
    if (!session.sendsTokenTo(instance.getUri(config))) {
      return config;
    }
    if (!ours && config.headers.has("Authorization")) {
      return config;
    }

    const token = await session.getAccessToken();
    if (token === null) {
      config.headers.delete("Authorization");
      delete config.selloToken;
      return config;
    }
    config.headers.set("Authorization", `Bearer ${token}`);
    config.selloToken = token;
    return config;
  });

  const responseInterceptor = instance.interceptors.response.use(undefined, async (error) => {
    const config = (error as AxiosError).config as TrackedConfig | undefined;
    const response = (error as AxiosError).response;
    const sentToken = config?.selloToken;
    const data = response?.data;
    const expired =
      response?.status === 401 &&
      isTokenExpiredBody(typeof data === "string" ? parseJson(data) : data);
    if (config === undefined || sentToken === undefined || config.selloRetried || !expired) {
      throw error;
    }

    let renewed: string | null;
    try {
      renewed = await session.refresh(sentToken);
    } catch {
      throw error;
    }
    if (renewed === null || renewed === sentToken) {
      throw error;
    }
    config.selloRetried = true;
    return instance.request(config);
  });

  return () => {
    instance.interceptors.request.eject(requestInterceptor);
    instance.interceptors.response.eject(responseInterceptor);
  };
}
