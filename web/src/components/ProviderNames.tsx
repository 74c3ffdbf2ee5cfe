// Provider labels from the catalogue (GET /api/v1/integrations/providers): no provider is named in the UI.
import { useQuery } from "@tanstack/react-query";
import { api, type ProviderInfo } from "../api";

export function useProviders() {
  return useQuery({
    queryKey: ["providers"],
    queryFn: () => api<ProviderInfo[]>("/api/v1/integrations/providers"),
    staleTime: Infinity,
  });
}

export function useProviderLabel(): (name: string | null | undefined) => string {
  const providers = useProviders();
  return (name) => providers.data?.find((p) => p.name === name)?.label ?? name ?? "";
}
