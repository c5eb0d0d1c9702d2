"""Provider adapters by kind. Each module holds one Provider subclass (see base.py for the interface)."""

from django.utils.module_loading import import_string

from allocator.providers.base import Provider

PROVIDERS: dict[str, str] = {
    "simulated": "allocator.providers.simulated.provider.SimulatedProvider",
    "openai": "allocator.providers.openai.OpenAIProvider",
    "anthropic": "allocator.providers.anthropic.AnthropicProvider",
    "openrouter": "allocator.providers.openrouter.OpenRouterProvider",
    "claude_code": "allocator.providers.claude_code.ClaudeCodeProvider",
    "copilot": "allocator.providers.copilot.CopilotProvider",
    "cursor": "allocator.providers.cursor.CursorProvider",
}


def provider_class(kind: str) -> type[Provider]:
    try:
        return import_string(PROVIDERS[kind])
    except KeyError as e:
        raise ValueError(f"Unknown provider kind {kind!r}") from e


def get_provider(kind: str, *, base_url: str = "", credential: str = "", options: dict | None = None) -> Provider:
    return provider_class(kind)(base_url=base_url, credential=credential, options=options)


def kind_choices() -> list[tuple[str, str]]:
    """(kind, label) of every registered provider, in registry order: the choices of ProviderKind."""
    return [(kind, provider_class(kind).display_name) for kind in PROVIDERS]
