// Who is signed in: /api/v1/auth/me, sign-in and sign-out.
import { createContext, useContext, useEffect, type ReactNode } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, ApiError, setCsrfToken, whenUnauthorized, type Me } from "./api";

interface AuthState {
  me: Me | null;
  loading: boolean;
  signIn: (email: string, password: string) => Promise<void>;
  signOut: () => Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient();
  const me = useQuery({
    queryKey: ["me"],
    queryFn: async () => {
      try {
        const answer = await api<Me>("/api/v1/auth/me");
        setCsrfToken(answer.csrf_token);
        return answer;
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return null;
        throw e;
      }
    },
    staleTime: Infinity,
  });
  useEffect(() => {
    whenUnauthorized(() => {
      setCsrfToken(null);
      qc.setQueryData(["me"], null);
    });
    return () => whenUnauthorized(null);
  }, [qc]);
  const signIn = useMutation({
    mutationFn: (body: { email: string; password: string }) => api<Me>("/api/v1/auth/login", { method: "POST", body }),
    onSuccess: (answer) => {
      setCsrfToken(answer.csrf_token);
      qc.clear();
      qc.setQueryData(["me"], answer);
    },
  });
  const signOut = useMutation({
    mutationFn: () => api<void>("/api/v1/auth/logout", { method: "POST" }),
    onSettled: () => {
      setCsrfToken(null);
      qc.clear();
      qc.setQueryData(["me"], null);
    },
  });
  const value: AuthState = {
    me: me.data ?? null,
    loading: me.isLoading,
    signIn: async (email, password) => {
      await signIn.mutateAsync({ email, password });
    },
    signOut: async () => {
      await signOut.mutateAsync();
    },
  };
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const value = useContext(AuthContext);
  if (!value) throw new Error("useAuth outside AuthProvider");
  return value;
}
