"""ecom_ai's models, one module per domain."""

from ecom_ai.models.catalog import Item  # noqa: F401
from ecom_ai.models.events import ChannelKey, Event, VisitorIdentity  # noqa: F401
from ecom_ai.models.chat import Conversation, Intent, IntentExample, KnowledgeArticle, Message  # noqa: F401
from ecom_ai.models.registry import ModelVersion, TrainingRun  # noqa: F401
from ecom_ai.models.fraud import FraudAssessment, FraudListEntry, FraudRule, FraudSettings  # noqa: F401
from ecom_ai.models.recommend import Experiment, Placement, PlacementRule, RecommendationList, Variant  # noqa: F401
from ecom_ai.models.marketing import Campaign, Coupon, Offer, OfferDecision  # noqa: F401
