"""Every table of the product, imported in one place so Alembic sees the whole schema."""

from __future__ import annotations

from onecard.audit import models as _audit  # noqa: F401
from onecard.catalogue import models as _catalogue  # noqa: F401
from onecard.channels import models as _channels  # noqa: F401
from onecard.community import models as _community  # noqa: F401
from onecard.core.db import Base
from onecard.faces import models as _faces  # noqa: F401
from onecard.feedback import models as _feedback  # noqa: F401
from onecard.funding import models as _funding  # noqa: F401
from onecard.interregion import models as _interregion  # noqa: F401
from onecard.ledger import models as _ledger  # noqa: F401
from onecard.menus import models as _menus  # noqa: F401
from onecard.org import models as _org  # noqa: F401
from onecard.org import session_models as _sessions  # noqa: F401
from onecard.partners import models as _partners  # noqa: F401
from onecard.pay import models as _pay  # noqa: F401
from onecard.reports import models as _reports  # noqa: F401
from onecard.rollout import models as _rollout  # noqa: F401
from onecard.sourcing import models as _sourcing  # noqa: F401
from onecard.surveys import models as _surveys  # noqa: F401
from onecard.terminals import models as _terminals  # noqa: F401
from onecard.waste import models as _waste  # noqa: F401

metadata = Base.metadata
