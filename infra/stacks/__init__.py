"""The stacks: per environment a platform stack and a serving stack (infra/phases.py says why and in which order)."""

from infra.stacks.platform import PlatformStack, ServingStack

__all__ = ["PlatformStack", "ServingStack"]
