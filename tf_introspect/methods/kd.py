"""KD: knowledge distillation (Hinton et al. 2015; paper Eq. 4 and 5.3).

``loss = T^2 KL(softmax(t/T) || softmax(s/T)) + lam * CE(p, y)``, T = 4 and lam = 0.1 as in
the paper's section 5.3. With a teacher of the student's own architecture trained by CE this is
a Born-Again Network (paper 5.2): ``ban`` (lam = 0) and ``ban_l`` (lam = 0.1).
"""

from tf_introspect.methods.distill import Distillation, kd_loss


class KnowledgeDistillation(Distillation):
    """Hinton KD with temperature ``temperature``."""

    def __init__(self, model, teacher, temperature=4.0, lam=0.1, **kwargs):
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}.")
        super().__init__(model, teacher, lam=lam, **kwargs)
        self.temperature = float(temperature)

    def distill(self, logits, teacher_logits, features, teacher_features, y):
        return kd_loss(self.soft_teacher_logits(teacher_logits), logits, self.temperature)

    def soft_teacher_logits(self, teacher_logits):
        """Teacher logits as handed to the soft loss (DKPP changes them)."""
        return teacher_logits
