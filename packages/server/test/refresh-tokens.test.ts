import { describe, expect, it } from "vitest";
import {
  createSuccessor,
  generateRefreshToken,
  isRefreshTokenShaped,
  unsealSuccessor,
} from "../src/refresh-tokens.js";

describe("refresh-token successors", () => {
  it("creates a token-shaped successor", () => {
    const successor = createSuccessor(generateRefreshToken());
    expect(isRefreshTokenShaped(successor.token)).toBe(true);
  });

  it("unseals with the replaced token", () => {
    const presented = generateRefreshToken();
    const successor = createSuccessor(presented);
    expect(unsealSuccessor(presented, successor.sealed)).toBe(successor.token);
  });

  it("does not unseal with another token", () => {
    const successor = createSuccessor(generateRefreshToken());
    expect(unsealSuccessor(generateRefreshToken(), successor.sealed)).toBeUndefined();
  });

  it("rejects a tampered or truncated seal", () => {
    const presented = generateRefreshToken();
    const bytes = Buffer.from(createSuccessor(presented).sealed, "base64url");
    const flipped = Buffer.from(bytes);
    flipped[20] = (flipped[20] ?? 0) ^ 1;
    expect(unsealSuccessor(presented, flipped.toString("base64url"))).toBeUndefined();
    expect(unsealSuccessor(presented, bytes.subarray(0, 28).toString("base64url"))).toBeUndefined();
    expect(unsealSuccessor(presented, "")).toBeUndefined();
  });

  it("never repeats a successor, its IV or its seal", () => {
    const presented = generateRefreshToken();
    const successors = Array.from({ length: 1000 }, () => createSuccessor(presented));
    const ivs = successors.map((successor) =>
      Buffer.from(successor.sealed, "base64url").subarray(0, 12).toString("hex"),
    );
    expect(new Set(successors.map((successor) => successor.token)).size).toBe(1000);
    expect(new Set(ivs).size).toBe(1000);
    expect(new Set(successors.map((successor) => successor.sealed)).size).toBe(1000);
  });
});
